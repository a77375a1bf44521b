// millivid view: episode list, frame scrubber, top-down map and rollout curves. Plain JavaScript,
// served by `millivid view`; everything it shows comes from the local server's /api routes.
"use strict";

const COLOURS = ["#4fc3f7", "#ff8a65", "#aed581", "#ba68c8", "#ffd54f", "#e57373"];
const CURVES = { psnr: "PSNR (dB)", landmark_iou: "landmark IoU" };
const state = { episode: null, t: 0, playing: null, panels: [], revisits: new Set(), mapImage: null, stepAsked: 0 };
const $ = (id) => document.getElementById(id);

function problem(message) {
  const line = document.createElement("div");
  line.textContent = message;
  $("problems").appendChild(line);
}

async function api(path) {
  const response = await fetch(path);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `${path}: ${response.status}`);
  return body;
}

async function loadDataset() {
  let dataset;
  try {
    dataset = await api("/api/dataset");
  } catch (e) {
    problem(String(e.message));
    return;
  }
  $("dataset-name").textContent = `${dataset.name} (${dataset.root})`;
  state.revisitContext = dataset.revisit_context;
  state.revisitRecent = dataset.revisit_recent;
  if (dataset.error) problem(dataset.error);
  for (const line of dataset.problems) problem(line);
  const body = $("episodes").tBodies[0];
  for (const e of dataset.episodes) {
    const row = body.insertRow();
    row.dataset.index = e.index;
    for (const value of [e.index, e.steps + 1, e.revisits ?? "-", e.explorer || "-"]) row.insertCell().textContent = value;
    row.title = e.complete ? "" : "not complete: the recording stopped early";
    row.addEventListener("click", () => openEpisode(e.index, 0));
  }
  const wanted = new URLSearchParams(location.hash.slice(1));
  if (dataset.episodes.length) {
    const first = dataset.episodes[0].index;
    openEpisode(Number(wanted.get("episode") ?? first), Number(wanted.get("t") ?? 0));
  }
}

function addPanel(title, url, covers) {
  const figure = document.createElement("figure");
  const canvas = document.createElement("canvas");
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  figure.append(canvas, caption);
  $("panels").appendChild(figure);
  state.panels.push({ figure, canvas, url, covers, asked: -1 });
}

async function openEpisode(index, t) {
  let episode;
  try {
    episode = await api(`/api/episode/${index}`);
  } catch (e) {
    problem(String(e.message));
    return;
  }
  stop();
  state.episode = episode;
  state.revisits = new Set(episode.revisits);
  for (const row of $("episodes").tBodies[0].rows) row.classList.toggle("current", Number(row.dataset.index) === index);
  $("episode").hidden = false;
  $("episode-title").textContent = `episode ${index}: ${episode.frames} frames, ${episode.revisits.length} revisit frames ` +
    `(near a pose of the first ${state.revisitContext} frames, not seen in the ${state.revisitRecent} before)`;
  $("panels").replaceChildren();
  state.panels = [];
  const all = () => true;
  addPanel("truth", (t) => `/api/episode/${index}/rgb/${t}.png`, all);
  for (const field of ["depth", "block_id"]) {
    if (episode.fields.includes(field)) addPanel(field === "depth" ? "depth" : "block ids", (t) => `/api/episode/${index}/${field}/${t}.png`, all);
  }
  for (const r of episode.rollouts) {
    addPanel(r.label, (t) => `/api/rollout/${r.key}/${t}.png`, (t) => t >= r.first && t < r.first + r.count);
  }
  for (const panel of state.panels) {
    panel.canvas.width = episode.shape ? episode.shape[1] : 64;
    panel.canvas.height = episode.shape ? episode.shape[0] : 64;
  }
  $("slider").max = episode.frames - 1;
  state.mapImage = null;
  if (episode.world_size) {
    const image = new Image();
    image.onload = () => { state.mapImage = image; drawMap(); };
    image.src = `/api/episode/${index}/map.png`;
  }
  buildCurves();
  show(Math.min(Math.max(t, 0), episode.frames - 1));
}

function drawFrame(panel, t) {
  const context = panel.canvas.getContext("2d");
  if (!panel.covers(t)) {
    panel.figure.classList.add("missing");
    panel.canvas.dataset.frame = "";
    return;
  }
  panel.figure.classList.remove("missing");
  panel.asked = t;
  const image = new Image();
  image.onload = () => {
    if (panel.asked !== t) return;  // a later frame was asked for meanwhile
    context.imageSmoothingEnabled = false;
    context.drawImage(image, 0, 0, panel.canvas.width, panel.canvas.height);
    panel.canvas.dataset.frame = t;
  };
  image.onerror = async () => {
    try { await api(panel.url(t)); } catch (e) { problem(String(e.message)); }
  };
  image.src = panel.url(t);
}

function show(t) {
  const episode = state.episode;
  if (!episode) return;
  t = Math.min(Math.max(t, 0), episode.frames - 1);
  state.t = t;
  $("slider").value = t;
  $("frame-index").textContent = `${t} / ${episode.frames - 1}${state.revisits.has(t) ? " revisit" : ""}`;
  for (const panel of state.panels) drawFrame(panel, t);
  if (state.playing) {  // warm the cache for the frames about to play
    for (let k = 1; k <= 3; k++) for (const panel of state.panels) if (panel.covers(t + k)) new Image().src = panel.url(t + k);
  }
  drawMap();
  drawCurves();
  showStep(t);
  history.replaceState(null, "", `#episode=${episode.index}&t=${t}`);
}

async function showStep(t) {
  const asked = ++state.stepAsked;
  let step;
  try {
    step = await api(`/api/episode/${state.episode.index}/step/${t}`);
  } catch (e) {
    problem(String(e.message));
    return;
  }
  if (asked !== state.stepAsked) return;
  const rows = [["frame", t]];
  if (step.pose) rows.push(["pose", `x ${step.pose[0].toFixed(1)}  y ${step.pose[1].toFixed(1)}  z ${step.pose[2].toFixed(1)}  yaw ${step.pose[3].toFixed(0)}  pitch ${step.pose[4].toFixed(0)}`]);
  if (step.action) {
    const names = state.episode.action_names;
    for (const [key, value] of Object.entries(step.action)) {
      const named = key === "action" && names && Number.isInteger(value) ? `${value} (${names[value]})` : JSON.stringify(value);
      rows.push([key === "action" ? "action" : `action ${key}`, named]);
    }
  } else {
    rows.push(["action", "none (last frame)"]);
  }
  for (const key of ["rewards", "terminations", "truncations"]) if (key in step) rows.push([key.slice(0, -1), step[key]]);
  rows.push(["revisit", state.revisits.has(t) ? "yes" : "no"]);
  for (const r of state.episode.rollouts) {
    if (t < r.first || t >= r.first + r.count) continue;
    const parts = Object.entries(r.scores).map(([k, v]) => `${k} ${v[t - r.first] === null ? "-" : v[t - r.first].toFixed(3)}`);
    rows.push([r.label, parts.join("  ")]);
  }
  const body = $("step").tBodies[0];
  body.replaceChildren();
  for (const [k, v] of rows) {
    const row = body.insertRow();
    row.insertCell().textContent = k;
    row.insertCell().textContent = v;
  }
  $("step").dataset.frame = t;
}

const MAP_MARGIN = 24, MAP_MIN_SPAN = 64;  // blocks around the path; the least shown across

function mapTransform(episode, canvas) {
  // The path's surroundings, not the whole world: a short walk stays readable on a big map.
  const xs = episode.track.x, zs = episode.track.z;
  const cx = (Math.min(...xs) + Math.max(...xs)) / 2, cz = (Math.min(...zs) + Math.max(...zs)) / 2;
  const span = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...zs) - Math.min(...zs)) + 2 * MAP_MARGIN;
  const side = Math.max(span, MAP_MIN_SPAN);
  return { scale: Math.min(canvas.width, canvas.height) / side, x0: cx - side / 2, z0: cz - side / 2 };
}

function drawMap() {
  const episode = state.episode, canvas = $("map");
  const context = canvas.getContext("2d");
  context.fillStyle = "#000";
  context.fillRect(0, 0, canvas.width, canvas.height);
  if (!episode || !episode.track) {
    context.fillStyle = "#889";
    context.fillText("no poses recorded", 10, 20);
    return;
  }
  const { scale, x0, z0 } = mapTransform(episode, canvas);
  const px = (x) => (x - x0) * scale, pz = (z) => (z - z0) * scale;
  if (state.mapImage) {
    context.imageSmoothingEnabled = false;
    context.globalAlpha = 0.75;
    context.drawImage(state.mapImage, px(0), pz(0), episode.world_size[0] * scale, episode.world_size[1] * scale);
    context.globalAlpha = 1;
  }
  const { x, z, yaw } = episode.track;
  context.strokeStyle = "rgba(255,255,255,0.7)";
  context.lineWidth = 1;
  context.beginPath();
  for (let i = 0; i < x.length; i++) (i ? context.lineTo : context.moveTo).call(context, px(x[i]), pz(z[i]));
  context.stroke();
  context.fillStyle = "#ff9d2e";
  for (const i of episode.revisits) context.fillRect(px(x[i]) - 1.5, pz(z[i]) - 1.5, 3, 3);
  context.font = "11px system-ui";
  for (const m of episode.landmarks) {
    context.fillStyle = "#fff";
    context.fillRect(px(m.x) - 4, pz(m.z) - 4, 8, 8);
    context.fillText(m.name.replace("landmark_", ""), px(m.x) + 6, pz(m.z) + 4);
  }
  const t = state.t, cx = px(x[t]), cz = pz(z[t]);
  const radians = (yaw[t] * Math.PI) / 180;
  context.strokeStyle = context.fillStyle = "#3cf";
  context.lineWidth = 2;
  context.beginPath();
  context.moveTo(cx, cz);
  context.lineTo(cx - Math.sin(radians) * 16, cz + Math.cos(radians) * 16);  // the camera looks along (-sin yaw, cos yaw)
  context.stroke();
  context.beginPath();
  context.arc(cx, cz, 4, 0, 2 * Math.PI);
  context.fill();
  canvas.dataset.markerX = x[t];
  canvas.dataset.markerZ = z[t];
}

function buildCurves() {
  const holder = $("curves");
  holder.replaceChildren();
  for (const [metric, title] of Object.entries(CURVES)) {
    if (!state.episode.rollouts.some((r) => metric in r.scores)) continue;
    const canvas = document.createElement("canvas");
    canvas.width = 600;
    canvas.height = 130;
    canvas.dataset.metric = metric;
    canvas.title = `${title} per generated frame`;
    holder.appendChild(canvas);
  }
}

function drawCurves() {
  const rollouts = state.episode.rollouts;
  if (!rollouts.length) return;
  const first = Math.min(...rollouts.map((r) => r.first));
  const last = Math.max(...rollouts.map((r) => r.first + r.count - 1));
  for (const canvas of $("curves").children) {
    const metric = canvas.dataset.metric, context = canvas.getContext("2d");
    const values = rollouts.flatMap((r) => (r.scores[metric] || []).filter((v) => v !== null));
    const low = Math.min(...values), high = Math.max(...values, low + 1e-6);
    const left = 40, right = canvas.width - 8, top = 16, bottom = canvas.height - 16;
    const fx = (t) => left + ((t - first) / Math.max(last - first, 1)) * (right - left);
    const fy = (v) => bottom - ((v - low) / (high - low)) * (bottom - top);
    context.clearRect(0, 0, canvas.width, canvas.height);
    context.fillStyle = "#99a";
    context.font = "11px system-ui";
    context.fillText(`${CURVES[metric]}`, left, 11);
    context.fillText(high.toFixed(2), 2, top + 4);
    context.fillText(low.toFixed(2), 2, bottom);
    context.fillText(`frame ${first}`, left, canvas.height - 3);
    context.fillText(`${last}`, right - 24, canvas.height - 3);
    rollouts.forEach((r, k) => {
      const series = r.scores[metric];
      if (!series) return;
      context.strokeStyle = COLOURS[k % COLOURS.length];
      context.lineWidth = 1.5;
      context.beginPath();
      let drawing = false;
      series.forEach((v, i) => {
        if (v === null) { drawing = false; return; }
        (drawing ? context.lineTo : context.moveTo).call(context, fx(r.first + i), fy(v));
        drawing = true;
      });
      context.stroke();
      context.fillStyle = COLOURS[k % COLOURS.length];
      context.fillText(r.label, left + 120 + 150 * k, 11);
    });
    if (state.t >= first && state.t <= last) {
      context.strokeStyle = "#fff";
      context.beginPath();
      context.moveTo(fx(state.t), top);
      context.lineTo(fx(state.t), bottom);
      context.stroke();
    }
  }
}

function stop() {
  clearInterval(state.playing);
  state.playing = null;
  $("play").innerHTML = "&#9654;";
}

function togglePlay() {
  if (state.playing) return stop();
  $("play").innerHTML = "&#10073;&#10073;";
  state.playing = setInterval(() => {
    if (state.t >= state.episode.frames - 1) return stop();
    show(state.t + 1);
  }, 1000 / Number($("fps").value));
}

function nextRevisit() {
  const later = state.episode.revisits.find((i) => i > state.t);
  if (later !== undefined) show(later);
}

document.addEventListener("keydown", (event) => {
  if (!state.episode || event.target.tagName === "SELECT") return;
  const moves = { ArrowRight: 1, ArrowLeft: -1, PageDown: 100, PageUp: -100 };
  if (event.key in moves) show(state.t + moves[event.key] * (event.shiftKey && Math.abs(moves[event.key]) === 1 ? 10 : 1));
  else if (event.key === "Home") show(0);
  else if (event.key === "End") show(state.episode.frames - 1);
  else if (event.key === " ") togglePlay();
  else if (event.key === "r") nextRevisit();
  else return;
  event.preventDefault();
});
$("slider").addEventListener("input", (event) => show(Number(event.target.value)));
$("play").addEventListener("click", togglePlay);
$("fps").addEventListener("change", () => { if (state.playing) { stop(); togglePlay(); } });
loadDataset();
