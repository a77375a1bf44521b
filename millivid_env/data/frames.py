"""`FramesInMemory`: every frame of a split, decoded once into RAM, for drawing independent random frames.

Reading a frame from disk decompresses its whole chunk (one recorded block, 64 frames by default),
so a streamed batch takes runs of consecutive (nearly identical) frames to stay cheap; from memory
every frame of a batch can come from a different place at no cost.
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np
from tqdm import tqdm

from millivid_env.data.windows import no_frames, split_episodes
from millivid_env.errors import UserError
from millivid_env.record import layout



def available_memory() -> int:
    """Bytes the kernel can hand out now without swapping (MemAvailable: free plus reclaimable cache)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def frame_shapes(refs: list[layout.EpisodeRef]) -> dict[str, tuple[int, ...]]:
    """Per-frame shapes of the RGB frames and block ids the first episode stores."""
    with layout.open_shard(refs[0].shard) as f:
        first = f[refs[0].name]
        return {p: first[p].shape[1:] for p in (layout.RGB, layout.BLOCK_ID) if p in first}


def memory_needed(root: Path, split: str, explorers: tuple[str, ...] = ()) -> int:
    """Bytes `FramesInMemory` would take for the split, without reading any frames."""
    refs = split_episodes(Path(root), split, explorers=explorers)
    if not refs:
        return 0
    return sum(int(np.prod(shape)) for shape in frame_shapes(refs).values()) * sum(r.steps for r in refs)


class FramesInMemory:
    """RGB frames (and block ids where every episode has them) of the complete `split` episodes,
    one row per step that has an action, as contiguous uint8 arrays."""

    def __init__(self, root: Path, split: str, explorers: tuple[str, ...] = (), progress: bool = True) -> None:
        refs = split_episodes(Path(root), split, explorers=explorers)
        if not refs:
            raise no_frames(root, split, explorers)
        shapes = frame_shapes(refs)
        if layout.RGB not in shapes:
            raise UserError(f"{refs[0].shard}: {refs[0].name} has no {layout.RGB}")
        self.paths = [p for p in shapes if all(p in group for _, group in episodes(refs))]
        total = sum(r.steps for r in refs)
        self.arrays = {p: np.empty((total, *shapes[p]), np.uint8) for p in self.paths}
        row = 0
        for ref, group in tqdm(episodes(refs), total=len(refs), desc=f"load {Path(root).name} {split}", unit="episode",
                               disable=not progress):
            for p in self.paths:
                if group[p].shape[1:] != shapes[p]:
                    raise UserError(f"{ref.shard}: {ref.name}/{p} has frames of shape {group[p].shape[1:]}, "
                                    f"the first episode {shapes[p]}")
                group[p].read_direct(self.arrays[p], np.s_[:ref.steps], np.s_[row:row + ref.steps])
            row += ref.steps

    def __len__(self) -> int:
        return len(self.arrays[layout.RGB])

    def sample(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """`n` frames drawn uniformly with replacement: {"obs/rgb": (n, H, W, 3), "obs/block_id": (n, H, W)}."""
        rows = np.sort(rng.integers(len(self), size=n))  # sorted: the gathers walk memory forwards
        return {p: a[rows] for p, a in self.arrays.items()}


def episodes(refs: list[layout.EpisodeRef]) -> Iterator[tuple[layout.EpisodeRef, h5py.Group]]:
    """Each episode's group, opening every shard once (refs come grouped by shard)."""
    for shard, group_refs in itertools.groupby(refs, key=lambda r: r.shard):
        with layout.open_shard(shard) as f:
            for ref in group_refs:
                yield ref, f[ref.name]
