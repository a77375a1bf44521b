"""Import recorded Minecraft episodes from other formats into our dataset layout.

- minerl: MineRL-v0 episode folders, `recording.mp4` + `rendered.npz` (`action$<name>`, `reward`,
  optional `observation$location_stats$<xpos|ypos|zpos|yaw|pitch>`).
- vpt: OpenAI VPT contractor data, `<name>.mp4` + `<name>.jsonl` (one JSON line per frame with
  `keyboard.keys`, `mouse.dx/dy/buttons`, `xpos`, `ypos`, `zpos`, `yaw`, `pitch`).
- loopcraft: `<name>.mp4` + `<name>.npy`, an (N, 6) array per frame: macro action id, x, y, z,
  yaw, pitch.
A video of N frames gives N - 1 steps: the action recorded at frame i leads to frame i + 1.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
from tqdm import tqdm

from millivid_env.envs.actions import BUTTONS, MACRO_ACTIONS, action_space
from millivid_env.errors import UserError
from millivid_env.record import layout
from millivid_env.record.writer import EpisodeWriter

VPT_KEYS = {"key.keyboard.w": "forward", "key.keyboard.s": "back", "key.keyboard.a": "left", "key.keyboard.d": "right",
            "key.keyboard.space": "jump", "key.keyboard.left.shift": "sneak", "key.keyboard.left.control": "sprint"}
VPT_DEGREES_PER_PIXEL = 360.0 / 2400.0  # VPT's mouse-to-camera scale
POSE_KEYS = ("xpos", "ypos", "zpos", "yaw", "pitch")


@dataclass
class SourceEpisode:
    name: str
    video: Path
    actions: dict[str, np.ndarray]  # (n, ...) per action name, n >= steps
    rewards: np.ndarray | None = None
    pose: np.ndarray | None = None  # (frames, 5)


def read_video(path: Path, size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise UserError(f"{path}: cannot be read as a video")
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            if size and frame.shape[:2] != tuple(size):
                frame = cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)
            yield frame
    finally:
        capture.release()


def count_frames(path: Path) -> int:
    return sum(1 for _ in read_video(path, (8, 8)))


def _require(path: Path) -> Path:
    if not path.exists():
        raise UserError(f"{path.parent}: missing {path.name}")
    return path


def minerl_episodes(src: Path) -> Iterator[SourceEpisode]:
    folders = sorted(p for p in src.iterdir() if p.is_dir())
    if not folders:
        raise UserError(f"{src}: no MineRL episode folders (each holds recording.mp4 and rendered.npz)")
    for folder in folders:
        video, npz = _require(folder / "recording.mp4"), _require(folder / "rendered.npz")
        try:
            data = dict(np.load(npz, allow_pickle=False))
        except (ValueError, OSError) as e:
            raise UserError(f"{npz}: unreadable npz ({e})") from None
        actions = {b: np.asarray(data[f"action${b}"], np.int64) for b in BUTTONS if f"action${b}" in data}
        if "action$place" in data and "use" not in actions:
            actions["use"] = (np.asarray(data["action$place"]).astype(str) != "none").astype(np.int64)
        if "action$camera" not in data:
            raise UserError(f"{npz}: no 'action$camera' array; not a MineRL rendered.npz")
        actions["camera"] = np.asarray(data["action$camera"], np.float32)
        pose_keys = [f"observation$location_stats${k}" for k in POSE_KEYS]
        pose = np.stack([data[k] for k in pose_keys], 1).astype(np.float64) if all(k in data for k in pose_keys) else None
        yield SourceEpisode(folder.name, video, actions, np.asarray(data.get("reward", np.zeros(len(actions["camera"]))), np.float32), pose)


def _paired(src: Path, suffix: str) -> list[tuple[Path, Path]]:
    videos = sorted(src.glob("*.mp4"))
    if not videos:
        raise UserError(f"{src}: no .mp4 files")
    return [(v, _require(v.with_suffix(suffix))) for v in videos]


def vpt_episodes(src: Path) -> Iterator[SourceEpisode]:
    for video, jsonl in _paired(src, ".jsonl"):
        try:
            lines = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise UserError(f"{jsonl}: invalid JSON on line {e.lineno}") from None
        actions = {b: np.zeros(len(lines), np.int64) for b in BUTTONS}
        actions["camera"] = np.zeros((len(lines), 2), np.float32)
        for i, line in enumerate(lines):
            for key in line.get("keyboard", {}).get("keys", []):
                if key in VPT_KEYS:
                    actions[VPT_KEYS[key]][i] = 1
            mouse = line.get("mouse", {})
            buttons = mouse.get("buttons", [])
            actions["attack"][i], actions["use"][i] = int(0 in buttons), int(1 in buttons)
            actions["camera"][i] = (mouse.get("dy", 0.0) * VPT_DEGREES_PER_PIXEL, mouse.get("dx", 0.0) * VPT_DEGREES_PER_PIXEL)
        pose = np.array([[line.get(k, np.nan) for k in POSE_KEYS] for line in lines], np.float64)
        yield SourceEpisode(video.stem, video, actions, None, None if np.isnan(pose).all() else pose)


def loopcraft_episodes(src: Path) -> Iterator[SourceEpisode]:
    for video, npy in _paired(src, ".npy"):
        try:
            table = np.load(npy, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise UserError(f"{npy}: unreadable npy ({e})") from None
        if table.ndim != 2 or table.shape[1] != 6:
            raise UserError(f"{npy}: expected shape (frames, 6) [action, x, y, z, yaw, pitch], got {table.shape}")
        yield SourceEpisode(video.stem, video, {"action": table[:, 0].astype(np.int64)}, None, table[:, 1:].astype(np.float64))


FORMATS: dict[str, Callable[[Path], Iterator[SourceEpisode]]] = {
    "minerl": minerl_episodes, "vpt": vpt_episodes, "loopcraft": loopcraft_episodes,
}
# Recorded in the metadata as a collected dataset's env space is, so a simulator can train on it.
ACTION_SPACES = {"minerl": str(action_space()), "vpt": str(action_space()), "loopcraft": f"Discrete({len(MACRO_ACTIONS)})"}


def write_episode(shard, index: int, episode: SourceEpisode, size, block: int, compression: str) -> int:
    """Append one source episode; the video decides the frame count and trailing actions are dropped.

    MineRL videos may hold a few more frames than actions (the game loading): those leading
    frames are skipped so the last frame lines up with the last action.
    """
    n_actions = min(len(a) for a in episode.actions.values())
    n_frames = count_frames(episode.video)
    skip = max(0, n_frames - (n_actions + 1))
    steps = min(n_frames - skip, n_actions + 1) - 1
    if steps < 1:
        raise UserError(f"{episode.video}: {n_frames} frames and {n_actions} actions make no step")
    writer = EpisodeWriter(shard, index, block, compression, {"source": episode.name})
    for t, frame in enumerate(read_video(episode.video, size)):
        if t < skip:
            continue
        i = t - skip
        if i > steps:
            break
        if i > 0:  # the step from frame i - 1 that led here
            step = {layout.action_path(k): v[i - 1] for k, v in episode.actions.items()}
            reward = episode.rewards[i - 1] if episode.rewards is not None else 0.0
            step.update(rewards=np.float32(reward), terminations=np.bool_(False), truncations=np.bool_(i == steps))
            writer.add_step(step)
        fields = {layout.RGB: frame}
        if episode.pose is not None:
            fields[layout.POSE] = episode.pose[min(i, len(episode.pose) - 1)]
        writer.add_frame(fields)
    writer.finish()
    return steps


def import_dataset(fmt: str, src: Path, out: Path, size: tuple[int, int] | None = None,
                   block: int = layout.BLOCK, compression: str = layout.COMPRESSION) -> dict:
    if fmt not in FORMATS:
        raise UserError(f"unknown import format {fmt!r}; choose one of {sorted(FORMATS)}")
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise UserError(f"{src}: no such folder")
    if (out / layout.DATASET_JSON).exists():
        raise UserError(f"{out} already holds a dataset; choose another destination")
    episodes = list(FORMATS[fmt](src))  # parse every action file before writing anything
    (out / layout.SHARDS).mkdir(parents=True, exist_ok=True)
    total = 0
    with layout.open_shard(layout.shard_path(out, 0), "w") as shard:
        for index, episode in enumerate(tqdm(episodes, desc=f"import {fmt}", unit="episode")):
            total += write_episode(shard, index, episode, size, block, compression)
    meta = {"name": out.name, "dataset_id": f"{out.name}-v0", "env_id": f"import:{fmt}", "status": "complete", "action_space": ACTION_SPACES[fmt],
            "source": str(src), "total_episodes": len(episodes), "total_steps": total,
            "recipe": {"episodes": len(episodes), "compression": compression, "block": block}}
    layout.write_metadata(out, meta)
    return meta
