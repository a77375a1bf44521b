"""Generated frames to show beside a dataset's episodes, found in the folders the tools write.

Two layouts are read: a `millivid rollout` folder (`rollout.json` with the episode, context and
per-frame scores, `rollout.npz` with the generated frames) and a `millivid bench revisit` report
(`results.json`, then `episodes/<episode>.<model>.npz` frames and `.json` scores per episode and
model). A folder holding neither is searched one level down, so `--rollouts out/` finds them all.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from millivid_env.errors import UserError
from millivid_env.record import layout

CURVES = ("psnr", "landmark_iou")  # the per-frame scores the page plots


@dataclass
class Rollout:
    key: str  # url-safe, unique among the rollouts shown
    label: str
    episode: int  # index of the dataset episode it continues
    first: int  # frame index of its first generated frame
    count: int
    frames_file: Path
    frames_key: str
    scores: dict[str, list[float | None]] = field(default_factory=dict)
    _frames: np.ndarray | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def summary(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "episode": self.episode, "first": self.first, "count": self.count,
                "scores": {k: v for k, v in self.scores.items() if k in CURVES}}

    def frame(self, t: int) -> np.ndarray:
        """The generated frame standing for episode frame t."""
        if not self.first <= t < self.first + self.count:
            raise UserError(f"rollout {self.label} covers frames {self.first}-{self.first + self.count - 1}, not {t}")
        with self._lock:
            if self._frames is None:
                self._frames = _load_frames(self.frames_file, self.frames_key)
        return self._frames[t - self.first]


def _load_frames(path: Path, key: str) -> np.ndarray:
    try:
        with np.load(path) as archive:
            frames = archive[key]
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"{path}: cannot read the generated frames ({str(e).splitlines()[0]})") from None
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise UserError(f"{path}: {key} is {frames.dtype} {frames.shape}, not (T, H, W, 3) uint8 frames")
    return frames


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: unreadable ({str(e).splitlines()[0]})") from None


def _nan_to_none(values: list[float]) -> list[float | None]:
    return [v if v is not None and np.isfinite(v) else None for v in values]


def _rollout_folder(folder: Path) -> list[Rollout]:
    info = _read_json(folder / "rollout.json")
    try:
        first, count, episode = int(info["context"]), int(info["frames"]), int(info["episode"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{folder / 'rollout.json'}: needs episode, context and frames (written by `millivid rollout`)") from None
    if not (folder / "rollout.npz").exists():
        raise UserError(f"{folder}: rollout.json without rollout.npz")
    label = f"{Path(str(info.get('sim', folder.name))).name} ({info.get('strategy', '?')})"
    scores = {k: _nan_to_none(v) for k, v in info.get("scores", {}).items()}
    return [Rollout("", label, episode, first, count, folder / "rollout.npz", "generated", scores)]


def _bench_report(folder: Path) -> list[Rollout]:
    results = _read_json(folder / "results.json")
    try:
        first, count = int(results["config"]["context"]), int(results["config"]["frames"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{folder / 'results.json'}: no config with context and frames (written by `millivid bench revisit`)") from None
    rollouts = []
    for frames_file in sorted((folder / "episodes").glob("*.npz")):
        match = re.fullmatch(rf"({layout.EPISODE_PREFIX}\d+)\.(.+)", frames_file.stem)
        if not match:
            continue
        episode, model = match.groups()
        scores_file = frames_file.with_suffix(".json")
        scores = _read_json(scores_file).get("scores", {}) if scores_file.exists() else {}
        strategy = results.get("strategies", {}).get(model, "?")
        rollouts.append(Rollout("", f"{model} ({strategy})", layout.episode_index(episode), first, count, frames_file, "frames",
                                {k: _nan_to_none(v) for k, v in scores.items()}))
    return rollouts


def _holds_rollouts(folder: Path) -> bool:
    return (folder / "rollout.json").exists() or (folder / "results.json").exists()


def _read_folder(folder: Path) -> list[Rollout]:
    if (folder / "rollout.json").exists():
        return _rollout_folder(folder)
    if (folder / "results.json").exists():
        return _bench_report(folder)
    return []


def find_rollouts(folders: list[Path]) -> tuple[list[Rollout], list[str]]:
    """Every rollout under `folders`, and one line per folder that could not be read."""
    found, problems = [], []
    for folder in map(Path, folders):
        if not folder.is_dir():
            problems.append(f"{folder}: no such rollout folder")
            continue
        candidates = [folder] if _holds_rollouts(folder) else sorted(p for p in folder.iterdir() if p.is_dir() and _holds_rollouts(p))
        if not candidates:
            problems.append(f"{folder}: no rollouts (neither rollout.json from `millivid rollout` nor results.json "
                            f"from `millivid bench revisit`, here or one level down)")
        for candidate in candidates:
            try:
                found += _read_folder(candidate)
            except UserError as e:
                problems.append(str(e))
    for i, rollout in enumerate(found):
        rollout.key = f"r{i}"
    return found, problems
