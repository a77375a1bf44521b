"""`millivid verify`: is a dataset whole? Shapes, lengths, dtypes, NaNs, unfinished episodes."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from millivid_env.errors import UserError
from millivid_env.record import layout

# Expected dtype kind and row rank of the fixed fields (others are checked for length only).
EXPECTED = {
    layout.RGB: ("u", 3), layout.DEPTH: ("f", 2), layout.BLOCK_ID: ("u", 2), layout.POSE: ("f", 1),
    "rewards": ("f", 0), "terminations": ("b", 0), "truncations": ("b", 0),
}
NAN_CHECK_ROWS = 256  # rows read at a time, so checking a long episode needs little memory


@dataclass
class Report:
    episodes: int = 0
    steps: int = 0
    problems: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.truncated


def _check_field(where: str, path: str, data: h5py.Dataset, rows: int, problems: list[str]) -> None:
    if data.shape[0] != rows:
        problems.append(f"{where}: {path} has {data.shape[0]} rows, expected {rows}")
    if path in EXPECTED:
        kind, rank = EXPECTED[path]
        if data.dtype.kind != kind or data.ndim - 1 != rank:
            problems.append(f"{where}: {path} is {data.dtype} with rows {data.shape[1:]}, expected kind '{kind}' rank {rank}")
    if data.dtype.kind == "f":
        for start in range(0, min(rows, data.shape[0]), NAN_CHECK_ROWS):
            if not np.isfinite(data[start:min(start + NAN_CHECK_ROWS, rows)]).all():
                problems.append(f"{where}: {path} holds NaN or infinite values")
                break


def _check_episode(shard: Path, name: str, group: h5py.Group, report: Report) -> None:
    where = f"{shard.name}:{name}"
    steps = layout.episode_steps(group)
    if not group.attrs.get("complete", False):
        report.truncated.append(f"{where}: unfinished, {steps} steps survived ({steps + 1} frames); "
                                "`millivid collect --resume` re-records it")
        return
    recorded = int(group.attrs.get("steps", -1))
    missing = [p for p in layout.STEP_FIELDS if p not in group] + ([] if layout.OBS in group else [f"{layout.OBS}/*"])
    missing += [] if layout.action_paths(group) else [f"{layout.ACTIONS}/*"]
    if missing:
        report.problems.append(f"{where}: missing {missing}")
        return
    for path in layout.frame_paths(group):
        _check_field(where, path, group[path], recorded + 1, report.problems)
    for path in [*layout.action_paths(group), *layout.STEP_FIELDS]:
        _check_field(where, path, group[path], recorded, report.problems)
    report.episodes += 1
    report.steps += recorded


def verify_dataset(root: Path) -> Report:
    root = Path(root)
    report = Report()
    try:
        meta = layout.read_metadata(root)
    except UserError as e:
        report.problems.append(str(e))
        return report
    if meta.get("status") != "complete":
        report.problems.append(f"{root}: collection status is {meta.get('status')!r}, not 'complete'; run collect --resume")
    seen: dict[str, Path] = {}
    for path in layout.shard_paths(root):
        try:
            shard = layout.open_shard(path)
        except UserError as e:
            report.problems.append(str(e))
            continue
        with shard:
            for name in shard:
                if not name.startswith(layout.EPISODE_PREFIX):
                    continue
                if name in seen:
                    report.problems.append(f"{name} appears in both {seen[name].name} and {path.name}")
                seen[name] = path
                _check_episode(path, name, shard[name], report)
    expected = meta.get("recipe", {}).get("episodes")
    if expected is not None and report.episodes + len(report.truncated) < expected:
        report.problems.append(f"{root}: {report.episodes} complete episodes of the recipe's {expected}")
    return report
