"""`millivid inspect`: what a dataset holds, its size on disk, and its revisit statistics."""
from __future__ import annotations

from pathlib import Path

import h5py

from millivid_env.data.revisits import RevisitConfig, revisit_mask
from millivid_env.record import layout


def field_table(root: Path) -> dict[str, tuple[tuple[int, ...], str, int, int]]:
    """path -> (row shape, dtype, stored bytes, raw bytes), summed over every episode."""
    table: dict[str, list] = {}

    def visit(path: str, obj) -> None:
        if isinstance(obj, h5py.Dataset):
            entry = table.setdefault(path, [obj.shape[1:], str(obj.dtype), 0, 0])
            entry[2] += obj.id.get_storage_size()
            entry[3] += obj.size * obj.dtype.itemsize

    for shard_path in layout.shard_paths(root):  # one open per shard, not per episode
        with layout.open_shard(shard_path) as f:
            for name in f:
                if name.startswith(layout.EPISODE_PREFIX):
                    f[name].visititems(visit)
    return {k: tuple(v) for k, v in sorted(table.items())}


def revisit_fraction(root: Path, cfg: RevisitConfig = RevisitConfig()) -> float | None:
    """Fraction of post-context frames that revisit the context, over episodes with poses."""
    hits = total = 0
    for ref in layout.episode_refs(root):
        with layout.open_shard(ref.shard) as f:
            if layout.POSE not in f[ref.name]:
                continue
            poses = f[ref.name][layout.POSE][: ref.steps + 1]
        hits += int(revisit_mask(poses, cfg).sum())
        total += max(len(poses) - cfg.context, 0)
    return hits / total if total else None


def summary_lines(root: Path) -> list[str]:
    root = Path(root)
    meta = layout.read_metadata(root)
    refs = layout.episode_refs(root)
    complete = [r for r in refs if r.complete]
    fields = field_table(root)
    stored = sum(v[2] for v in fields.values())
    raw = sum(v[3] for v in fields.values())
    on_disk = sum(p.stat().st_size for p in layout.shard_paths(root))
    lines = [
        f"dataset  {root}  ({meta.get('name')}, env {meta.get('env_id')}, status {meta.get('status')})",
        f"episodes {len(complete)} complete" + (f", {len(refs) - len(complete)} unfinished" if len(refs) > len(complete) else ""),
        f"frames   {sum(r.steps + 1 for r in complete):,} ({sum(r.steps for r in complete):,} steps)",
        f"on disk  {on_disk / 2**20:.1f} MiB in {len(layout.shard_paths(root))} shard(s); "
        f"compression {raw / max(stored, 1):.1f}x ({raw / 2**20:.1f} MiB raw)",
        "fields:",
    ]
    for path, (row, dtype, size, raw_size) in fields.items():
        lines.append(f"  {path:<24} {str(row):<16} {dtype:<8} {raw_size / max(size, 1):5.1f}x")
    fraction = revisit_fraction(root)
    if fraction is not None:
        cfg = RevisitConfig()
        lines.append(f"revisits {fraction:.1%} of frames after {cfg.context} return within {cfg.radius:g} blocks "
                     f"and {cfg.max_yaw:g} deg of a context view")
    return lines
