"""`millivid bench revisit`: does a model still show a place when the camera comes back to it?

Every simulator rolls out the same held-out episodes from the same context under the true
actions, each with its own strategy. Generated frames are scored one by one against the truth
(PSNR, SSIM, and the tokenizer's class head against the true block ids: block mIoU and landmark
IoU), and the frames that revisit a place seen only in the context (from the recorded poses) are
reported apart from the others, by rollout length and by how long ago the place was last seen.
Three reference lines run beside the models: the tokenizer's reconstruction of the truth (the
best a model can do through this tokenizer), the last context frame repeated, and the same frames
of another episode (chance). Each (episode, model) result is written as it completes, so a killed
run resumes where it stopped.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from millivid_env.bench.timing import machine
from millivid_env.data.revisits import RevisitConfig, near, revisit_mask
from millivid_env.data.windows import split_episodes
from millivid_env.errors import UserError
from millivid_env.metrics.bootstrap import bootstrap_ci
from millivid_env.models import checkpoint
from millivid_env.models.sampler import SamplerConfig
from millivid_env.record import layout
from millivid_env.sim.episodes import read_encoded
from millivid_env.sim.rollout import decode_with_classes, rollout
from millivid_env.sim.scoring import METRICS, context_palette, frame_scores
from millivid_env.sim.world_model import WorldModel, load_world_model

REFERENCES = ("reconstruction", "copy", "chance")


@dataclass(frozen=True)
class RevisitBenchConfig:
    episodes: int = 8  # held-out episodes, the bootstrap units
    context: int = 64  # true frames before generation (the paper: 256)
    frames: int = 192  # generated frames (the paper: 768)
    radius: float = 4.0  # blocks between camera positions for a revisit
    max_yaw: float = 30.0  # degrees between viewing directions for a revisit
    recent: int = 64  # a place seen within this many frames is not a revisit
    gap_edges: tuple[int, ...] = (64, 128, 256)  # bins of frames since the place was last seen
    length_bin: int = 32  # generated frames per bin of the by-length curves
    sampler_steps: int = 3
    seed: int = 0

    @property
    def revisits(self) -> RevisitConfig:
        return RevisitConfig(context=self.context, radius=self.radius, max_yaw=self.max_yaw, recent=self.recent)


PROTOCOLS = {
    "quick": RevisitBenchConfig(),
    # 128-step legs put every revisit 256-511 frames after its place was seen: finer bins there
    "paper": RevisitBenchConfig(context=256, frames=768, gap_edges=(128, 256, 288, 320, 352, 512)),
    # LoopNav's out-and-back: the way out (one leg of the revisit explorer) as context, the way back generated.
    "loopnav": RevisitBenchConfig(context=128, frames=128, recent=32, gap_edges=(32, 64, 128)),
}


SUMMARY_ONLY = ("episodes", "gap_edges", "length_bin")  # settings that change no episode's rollout or scores


def revisit_gaps(poses: np.ndarray, cfg: RevisitBenchConfig) -> np.ndarray:
    """For every generated frame: frames since its place was last seen in the context when it is a
    revisit (`revisit_mask`) whose place left the view more than `recent` frames ago (a place seen
    within the recent window is still in the model's fine context), else -1."""
    total = cfg.context + cfg.frames
    mask = revisit_mask(poses[:total], cfg.revisits)[cfg.context:total]
    last = np.full(cfg.frames, -1)
    seen = near(poses[cfg.context:total], poses[:cfg.context], cfg.revisits)
    for i in np.flatnonzero(mask):
        last[i] = cfg.context + i - np.flatnonzero(seen[i]).max()
    return np.where(last > cfg.recent, last, -1)


def episode_truth(model: WorldModel, data: Path, ref: layout.EpisodeRef, cfg: RevisitBenchConfig) -> tuple[Any, dict[str, Any]]:
    """The encoded episode, and its recorded truth over the generated span (+ poses, last context frame, colour lookup)."""
    episode, arrays = read_encoded(data, ref, model.cfg.codec, model.cfg.tokenizer_id,
                                   extra=(layout.RGB, layout.DEPTH, layout.BLOCK_ID, layout.POSE))
    span = slice(cfg.context, cfg.context + cfg.frames)
    return episode, {"palette": context_palette(arrays[layout.RGB][:cfg.context], arrays[layout.BLOCK_ID][:cfg.context]),
                     "rgb": arrays[layout.RGB][span], "depth": arrays[layout.DEPTH][span],
                     "block_id": arrays[layout.BLOCK_ID][span], "pose": arrays[layout.POSE],
                     "last_context": arrays[layout.RGB][cfg.context - 1]}


def reference_frames(name: str, model: WorldModel, episode, truth: dict[str, np.ndarray], other, cfg: RevisitBenchConfig):
    """Frames (and class maps) of a reference line."""
    if name == "reconstruction":
        return decode_with_classes(model, episode.latents[cfg.context:cfg.context + cfg.frames])
    if name == "copy":
        return decode_with_classes(model, np.repeat(episode.latents[cfg.context - 1:cfg.context], cfg.frames, 0))
    return decode_with_classes(model, other.latents[cfg.context:cfg.context + cfg.frames])


def run_revisit_bench(sims: list[Path], data: Path, out: Path, cfg: RevisitBenchConfig = RevisitBenchConfig()) -> dict[str, Any]:
    torch.set_flush_denormal(True)
    if not sims:
        raise UserError("bench revisit needs at least one --sims RUN")
    models, made_by = {}, {}
    for sim in sims:
        name = sim.name if sim.name not in models else f"{sim.name}#{len(models)}"
        models[name] = load_world_model(sim)
        made_by[name] = checkpoint.weights_id(sim)
    first = next(iter(models.values()))
    made_by |= {name: first.cfg.tokenizer_id for name in REFERENCES}  # what a saved result came from, with:
    rollout_settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in SUMMARY_ONLY}
    ids = {m.cfg.tokenizer_id for m in models.values()}
    if len(ids) > 1:
        raise UserError(f"the simulators were trained on different tokenizers ({sorted(ids)}); compare models of one tokenizer")
    refs = [r for r in split_episodes(data, "all") if r.steps + 1 >= cfg.context + cfg.frames][:cfg.episodes]
    if len(refs) < 2:
        raise UserError(f"{data}: need >= 2 complete episodes of {cfg.context + cfg.frames} frames, found {len(refs)}")
    out.mkdir(parents=True, exist_ok=True)
    done = out / "episodes"
    done.mkdir(exist_ok=True)
    per_episode: dict[str, dict[str, Any]] = {}
    grid: dict[str, dict[str, np.ndarray]] = {}
    progress = tqdm(total=len(refs) * (len(REFERENCES) + len(models)), desc="bench revisit", unit="rollout")
    for index, ref in enumerate(refs):
        episode, truth = episode_truth(first, data, ref, cfg)
        other, _ = read_encoded(data, refs[(index + 1) % len(refs)], first.cfg.codec, first.cfg.tokenizer_id)  # chance needs its latents only
        gaps = revisit_gaps(truth["pose"], cfg)
        for name in [*REFERENCES, *models]:
            path = done / f"{ref.name}.{name}.json"
            progress.set_postfix_str(f"{ref.name} {name}")
            source = json.loads(json.dumps({"weights": made_by[name], "config": rollout_settings}))
            saved = json.loads(path.read_text()) if path.exists() else None
            if saved is not None and saved.get("made_by") == source and set(METRICS) <= set(saved["scores"]):  # done earlier
                per_episode.setdefault(name, {})[ref.name] = saved
                progress.update()
                continue
            started = time.perf_counter()
            if name in models:
                model = models[name]
                actions = episode.frame_actions[None, :cfg.context + cfg.frames]
                result = rollout(model, episode.latents[None, :cfg.context].astype(np.float32), actions,
                                 SamplerConfig(steps=cfg.sampler_steps), cfg.seed)
                frames, classes = decode_with_classes(model, result.latents[0, cfg.context:])
                extra = {"tokens_per_step": max(result.tokens_per_step), "seconds_per_frame": result.seconds / cfg.frames}
                np.savez_compressed(done / f"{ref.name}.{name}.npz", frames=frames)
            else:
                frames, classes = reference_frames(name, first, episode, truth, other, cfg)
                extra = {}
            record = {"scores": frame_scores(frames, classes, truth, truth["palette"]), "gaps": gaps.tolist(), **extra, "made_by": source,
                      "seconds": round(time.perf_counter() - started, 2)}
            path.write_text(json.dumps(record))
            per_episode.setdefault(name, {})[ref.name] = record
            progress.update()
        grid[ref.name] = {"truth": truth["rgb"], "gaps": gaps}
    progress.close()
    results = {"data": str(data), "sims": [str(s) for s in sims], "strategies": {n: m.cfg.strategy for n, m in models.items()},
               "config": dataclasses.asdict(cfg), "machine": machine(), "date": time.strftime("%Y-%m-%d"),
               "revisit_frames": {ep: int((np.asarray(r["gaps"]) >= 0).sum()) for ep, r in per_episode["copy"].items()},
               "summary": summarise(per_episode, cfg)}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "report.md").write_text(markdown(results))
    plot_revisit_bench(results, out / "revisit.png")
    video_grid(out, grid, list(models), cfg)
    return results


def summarise(per_episode: dict[str, dict[str, Any]], cfg: RevisitBenchConfig) -> dict[str, Any]:
    """Per model and metric: bootstrap intervals over episodes for all, revisit and other frames,
    by gap bin and by rollout-length bin."""
    edges = np.asarray(cfg.gap_edges)
    summary = {}
    for name, episodes in per_episode.items():
        entry: dict[str, Any] = {}
        for metric in METRICS:
            groups: dict[str, list[float]] = {}
            for record in episodes.values():
                values, gaps = np.asarray(record["scores"][metric], float), np.asarray(record["gaps"])
                selections = {"all": np.ones(len(values), bool), "revisit": gaps >= 0, "other": gaps < 0}
                for low, high in zip((0, *edges), (*edges, np.inf)):
                    label = f"gap<{high}" if not low else f"gap>={low}" if high == np.inf else f"gap {low}-{high - 1}"
                    selections[label] = (gaps >= low) & (gaps < high)
                for start in range(0, len(values), cfg.length_bin):
                    selections[f"frames {start + 1}-{min(start + cfg.length_bin, len(values))}"] = \
                        np.isin(np.arange(len(values)), np.arange(start, start + cfg.length_bin))
                for label, chosen in selections.items():
                    picked = values[chosen]
                    picked = picked[np.isfinite(picked)]
                    if len(picked):
                        groups.setdefault(label, []).append(float(picked.mean()))
            # in the selections' own order (a bin first filled by a later episode would otherwise come late)
            entry[metric] = {label: bootstrap_ci(np.asarray(groups[label])) for label in selections if label in groups}
        costs = [r for r in episodes.values() if "tokens_per_step" in r]
        if costs:
            entry["tokens_per_step"] = max(r["tokens_per_step"] for r in costs)
            entry["seconds_per_frame"] = float(np.mean([r["seconds_per_frame"] for r in costs]))
        summary[name] = entry
    return summary


def _cell(ci: dict[str, float] | None) -> str:
    return f"{ci['mean']:.3f} [{ci['lo']:.3f}, {ci['hi']:.3f}]" if ci else "-"


def markdown(results: dict[str, Any]) -> str:
    summary = results["summary"]
    lines = [f"Revisit benchmark on `{results['data']}`: {results['config']['episodes']} episodes, "
             f"{results['config']['context']} context + {results['config']['frames']} generated frames; "
             f"revisit frames per episode {list(results['revisit_frames'].values())}. Means with bootstrap 95% intervals over episodes.",
             ""]
    for metric in METRICS:
        lines += [f"### {metric}", "", "| model | all frames | revisit frames | other frames | tokens/step | s/frame |", "|---|---|---|---|---|---|"]
        for name, entry in summary.items():
            values = entry[metric]
            cost = (f"{entry['tokens_per_step']} | {entry['seconds_per_frame']:.3f}" if "tokens_per_step" in entry else "- | -")
            kind = f"{name} ({results['strategies'][name]})" if name in results["strategies"] else f"*{name}*"
            lines.append(f"| {kind} | {_cell(values.get('all'))} | {_cell(values.get('revisit'))} | {_cell(values.get('other'))} | {cost} |")
        lines.append("")
    return "\n".join(lines)


def plot_revisit_bench(results: dict[str, Any], out: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = results["summary"]
    fig, axes = plt.subplots(3, 2, figsize=(13, 12))
    colours = {name: f"C{i}" for i, name in enumerate(summary)}  # one colour per line in every panel
    for row, metric in enumerate(("psnr", "landmark_iou")):
        for name, entry in summary.items():
            style = "--" if name in REFERENCES else "-"
            length = [(k, v) for k, v in entry[metric].items() if k.startswith("frames ")]
            gaps = [(k, v) for k, v in entry[metric].items() if k.startswith("gap")]
            for ax, points in ((axes[row, 0], length), (axes[row, 1], gaps)):
                if points:
                    ax.errorbar(range(len(points)), [v["mean"] for _, v in points],
                                yerr=[[v["mean"] - v["lo"] for _, v in points], [v["hi"] - v["mean"] for _, v in points]],
                                fmt=style + "o", capsize=3, label=name, alpha=0.8, color=colours[name])
                    every = -(-len(points) // 12)  # at most 12 tick labels, so they stay readable
                    names = [k.removeprefix("frames ").split("-")[0] if k.startswith("frames ") else k for k, _ in points]
                    ax.set_xticks(range(0, len(points), every), names[::every], fontsize=8)
        axes[row, 0].set(title=f"{metric} along the rollout (all generated frames)",
                         xlabel=f"generated frame (first of each bin of {results['config']['length_bin']})", ylabel=metric)
        axes[row, 1].set(title=f"{metric} on revisit frames, by frames since the place was last seen", xlabel="gap", ylabel=metric)
    axes[0, 0].legend(fontsize=8)
    plot_costs(summary, colours, axes[2, 0], axes[2, 1])
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_costs(summary: dict[str, Any], colours: dict[str, str], tokens_ax, quality_ax) -> None:
    """What each model pays per generated frame, beside what it buys on the revisit frames."""
    models = {name: entry for name, entry in summary.items() if "tokens_per_step" in entry}
    names = list(models)
    tokens_ax.bar(names, [models[n]["tokens_per_step"] for n in names], color=[colours[n] for n in names])
    for i, name in enumerate(names):
        tokens_ax.annotate(str(models[name]["tokens_per_step"]), (i, models[name]["tokens_per_step"]), ha="center", va="bottom", fontsize=8)
    tokens_ax.set(title="tokens attended per generated step", ylabel="tokens/step")
    for name, entry in models.items():
        ci = entry["psnr"].get("revisit")
        if ci:
            quality_ax.errorbar([entry["seconds_per_frame"]], [ci["mean"]], yerr=[[ci["mean"] - ci["lo"]], [ci["hi"] - ci["mean"]]],
                                fmt="o", capsize=3, label=name, color=colours[name])
    for name in REFERENCES:
        ci = summary.get(name, {}).get("psnr", {}).get("revisit")
        if ci:
            quality_ax.axhline(ci["mean"], linestyle="--", linewidth=1, color=colours[name], label=name)
    quality_ax.set(title="revisit-frame PSNR against generation cost (dashed: reference lines)",
                   xlabel="seconds per generated frame", ylabel="psnr")
    quality_ax.legend(fontsize=8)


def video_grid(out: Path, grid: dict[str, dict[str, np.ndarray]], models: list[str], cfg: RevisitBenchConfig) -> Path | None:
    """truth | each model, on the revisit moments of the episodes (every generated frame where none revisit)."""
    from millivid_env.viz import label
    from millivid_env.viz.video import write_video

    rows = []
    for episode, entry in grid.items():
        picks = np.flatnonzero(entry["gaps"] >= 0)[:48]
        generated = {m: np.load(out / "episodes" / f"{episode}.{m}.npz")["frames"] for m in models}
        for i in picks:
            tiles = [label(entry["truth"][i], f"truth {cfg.context + i}")]
            tiles += [label(generated[m][i], f"{m} gap {entry['gaps'][i]}") for m in models]
            rows.append(np.concatenate(tiles, 1))
    if not rows:
        return None
    return write_video(out / "revisits.mp4", rows, fps=8, scale=3)
