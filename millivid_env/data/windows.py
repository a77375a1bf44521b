"""`WindowDataset`: random access to T consecutive frames (with actions, poses, latents) of a dataset."""
from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from millivid_env.errors import UserError
from millivid_env.record import layout

SPLITS = ("train", "val", "test")


def split_of(episode: str, val: float = 0.05, test: float = 0.05) -> str:
    """Deterministic split by episode name: stable across machines and as the dataset grows."""
    u = zlib.crc32(episode.encode()) / 2**32
    return "test" if u < test else ("val" if u < test + val else "train")


def split_episodes(root: Path, split: str, val: float = 0.05, test: float = 0.05,
                   explorers: tuple[str, ...] = ()) -> list[layout.EpisodeRef]:
    """The complete episodes of `split` ("all" for every split), only those `explorers` recorded if given."""
    if split not in (*SPLITS, "all"):
        raise ValueError(f"split must be one of {SPLITS + ('all',)}, got {split!r}")
    layout.read_metadata(root)  # a clear error for a folder that is not a dataset
    return [r for r in layout.episode_refs(root) if r.complete and (split == "all" or split_of(r.name, val, test) == split)
            and (not explorers or r.explorer in explorers)]


def no_frames(root: Path, split: str, explorers: tuple[str, ...] = ()) -> UserError:
    """The error for a split (of these explorers' episodes) with nothing to read."""
    which = f" {'/'.join(explorers)}" if explorers else ""
    return UserError(f"{root}: no {split}{which} frames to train on (collect more episodes)")


class WindowDataset(Dataset):
    """Windows of `window` frames starting every `stride` frames, from complete episodes of `split`
    (and, if `explorers` is given, only episodes recorded by those explorers).

    Item: {"rgb": uint8 (T, H, W, 3), "actions/<name>": (T, ...) the action taken at each frame,
    "pose": float32 (T, 5), "latents/level_<k>": (T, N_k, C), "episode": int, "start": int} (the
    fields the dataset has among `fields`: a group such as "obs", or one path such as
    "obs/block_id"). Files open lazily in whichever process reads, so the dataset is safe in a
    multi-worker DataLoader (one handle per worker, none across a fork).
    """

    def __init__(self, root: str | Path, window: int, split: str = "train", stride: int = 1,
                 fields: tuple[str, ...] = ("rgb", "actions", "pose", "latents"),
                 val: float = 0.05, test: float = 0.05, explorers: tuple[str, ...] = ()) -> None:
        if window < 1 or stride < 1:
            raise ValueError(f"window and stride must be >= 1, got {window} and {stride}")
        self.root, self.window, self.stride, self.fields = Path(root), window, stride, tuple(fields)
        refs = split_episodes(self.root, split, val, test, explorers)
        # A window needs `window` frames each with its action: start + window <= steps.
        counts = np.array([max(0, (r.steps - window) // stride + 1) for r in refs], np.int64)
        self.refs = [r for r, c in zip(refs, counts) if c > 0]
        self.cumulative = np.cumsum(counts[counts > 0])
        self._files: dict[Path, h5py.File] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return int(self.cumulative[-1]) if len(self.cumulative) else 0

    def locate(self, index: int) -> tuple[layout.EpisodeRef, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"window {index} out of range [0, {len(self)})")
        episode = int(np.searchsorted(self.cumulative, index, side="right"))
        before = int(self.cumulative[episode - 1]) if episode else 0
        return self.refs[episode], (index - before) * self.stride

    def _group(self, ref: layout.EpisodeRef) -> h5py.Group:
        if os.getpid() != self._pid:  # forked into a DataLoader worker: never reuse the parent's handles
            self._files, self._pid = {}, os.getpid()
        if ref.shard not in self._files:
            self._files[ref.shard] = layout.open_shard(ref.shard)
        return self._files[ref.shard][ref.name]

    def __getitem__(self, index: int) -> dict[str, Any]:
        ref, start = self.locate(index)
        group = self._group(ref)
        rows = slice(start, start + self.window)
        item: dict[str, Any] = {"episode": layout.episode_index(ref.name), "start": start}
        for path in layout.frame_paths(group) + layout.action_paths(group):
            name = "rgb" if path == layout.RGB else path
            if name in self.fields or name.split("/")[0] in self.fields:
                item[name] = torch.from_numpy(np.ascontiguousarray(group[path][rows]))
        if "pose" in item:
            item["pose"] = item["pose"].float()
        return item

    def frames(self, picks: Sequence[int]) -> dict[str, np.ndarray]:
        """The windows at `picks` with each field joined along time: (len(picks) * window, ...)."""
        items = [self[int(i)] for i in picks]
        fields = [k for k in (items[0] if items else {}) if k not in ("episode", "start")]
        return {k: np.concatenate([it[k].numpy() for it in items]) for k in fields}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_files"] = {}
        return state
