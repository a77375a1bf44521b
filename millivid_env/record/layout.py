"""The on-disk dataset layout. This is the only module that knows HDF5 paths, dtypes and chunking.

A dataset is a folder: `dataset.json` (schema, env, recipe, counts, Minari-style fields) and
`shards/shard_<w>.h5`, one per collection worker. Each episode is a group `episode_<n>` (n is
the global episode index) holding, for T steps:

    obs/rgb (T+1, H, W, 3) uint8      obs/depth (T+1, H, W) float32   obs/block_id (T+1, H, W) uint8
    pose (T+1, 5) float64             actions/<name> (T, ...)         rewards (T,) float32
    terminations (T,) bool            truncations (T,) bool           infos/<key> (T+1, ...)
    latents/level_<k> (T+1, N_k, C) float16, once encoded

Depth is stored with 12 significant bits (see SIGNIFICANT_BITS); every other array as given.
Arrays grow in blocks while the episode runs; after each block the file is flushed and the
episode's `steps` attribute says how many steps are safely on disk, so a killed writer loses at
most the block in flight. `complete` is set when the episode ended normally.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
from h5py import h5s
import numpy as np

from millivid_env.errors import UserError

SCHEMA_VERSION = 1
DATASET_JSON = "dataset.json"
SHARDS = "shards"
EPISODE_PREFIX = "episode_"
# Per-frame arrays (T+1 rows) and per-step arrays (T rows). Observations live under OBS, the
# extra info keys a recipe keeps under INFOS, actions under ACTIONS, one array per leaf.
OBS, INFOS, ACTIONS, LATENTS = "obs", "infos", "actions", "latents"
RGB, DEPTH, BLOCK_ID, STATE, POSE = "obs/rgb", "obs/depth", "obs/block_id", "obs/state", "pose"
FRAME_FIELDS = {"pov": RGB, "depth": DEPTH, "block_id": BLOCK_ID, "pose": POSE}
STEP_COLUMNS = (("rewards", np.float32), ("terminations", np.bool_), ("truncations", np.bool_))
STEP_FIELDS = tuple(path for path, _ in STEP_COLUMNS)
COMPRESSIONS = ("blosc-lz4", "gzip", "lzf", "none")
COMPRESSION = "blosc-lz4"  # the default: fastest to write and to read (`millivid bench data`)
# Frames per flushed block, and per compressed chunk. A flush has a fixed cost (~550 us: three
# chunk writes, the small arrays, H5Fflush), so 64 frames record ~9 us a step cheaper than 32 on
# 2 cores, for at most 64 frames (3.2 s of game time) lost on a kill and random 16-frame windows
# 12-15% slower to read (they decompress a longer chunk).
BLOCK = 64
SMALL_ROW_BYTES = 64
SMALL_ROW_CHUNK = 1024
# Float arrays stored with this many significant bits (bit rounding, as netCDF's quantize and
# numcodecs' BitRound do). Depth needs no more than 12 (relative error <= 1.2e-4: 0.012 blocks at
# the 96-block view distance); the dropped bits are render noise that made depth a third larger.
SIGNIFICANT_BITS = {DEPTH: 12}


def obs_path(key: str) -> str:
    """Where an observation key is stored: the known ones by name (pov is obs/rgb), others under obs/."""
    return FRAME_FIELDS.get(key, f"{OBS}/{key}")


def info_path(key: str) -> str:
    """Where an info key is stored: the known ones by name (pose, depth, block ids), others under infos/."""
    return FRAME_FIELDS.get(key, f"{INFOS}/{key}")


def action_path(key: str) -> str:
    return f"{ACTIONS}/{key}"


def compression_options(name: str) -> dict[str, Any]:
    """h5py create_dataset keywords for a compression name (measured in `millivid bench data`)."""
    if name == "blosc-lz4":
        return dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE))
    if name == "gzip":
        return {"compression": "gzip", "compression_opts": 1, "shuffle": True}
    if name == "lzf":
        return {"compression": "lzf", "shuffle": True}
    if name == "none":
        return {}
    raise UserError(f"unknown compression {name!r}; choose one of {COMPRESSIONS}")


def episode_name(index: int) -> str:
    return f"{EPISODE_PREFIX}{index}"


def episode_index(name: str) -> int:
    return int(name[len(EPISODE_PREFIX):])


def shard_path(root: Path, worker: int) -> Path:
    return Path(root) / SHARDS / f"shard_{worker}.h5"


def shard_paths(root: Path) -> list[Path]:
    return sorted((Path(root) / SHARDS).glob("shard_*.h5"), key=lambda p: int(p.stem.split("_")[1]))


def open_shard(path: Path, mode: str = "r") -> h5py.File:
    """Open a shard, turning HDF5's errors about broken files into one clear line."""
    try:
        return h5py.File(path, mode)
    except FileNotFoundError:
        raise UserError(f"{path}: no such shard") from None
    except OSError as e:
        reason = str(e).split("(")[0].strip() or "unreadable"
        raise UserError(f"{path}: not a readable HDF5 file ({reason}); it is truncated or corrupt") from None


def create_growing(group: h5py.Group, path: str, row: tuple[int, ...], dtype: Any, block: int, compression: str) -> h5py.Dataset:
    """An empty dataset of rows shaped `row`, growable along axis 0.

    Frames get one block per compressed chunk (a training window decompresses little beyond
    itself), and this handle gets no chunk cache: a writer appending whole blocks fills each chunk
    in one write, so the cache would only add a copy and put off compressing to the flush (without
    it a recorded step costs ~9 us less, same bytes on disk). Small rows (actions, rewards, poses)
    get long uncompressed chunks: per-chunk costs dwarf their bytes, and an uncompressed chunk is
    updated in place, never moved, so appending to it cannot endanger the rows it already holds.
    """
    small = int(np.prod(row, dtype=np.int64)) * np.dtype(dtype).itemsize <= SMALL_ROW_BYTES
    # (h5py drops a cache setting of 0 unless another one is given: w0 = 1 evicts written chunks first.)
    uncached = {"rdcc_nbytes": 0, "rdcc_w0": 1.0}
    rows, options = (max(block, SMALL_ROW_CHUNK), {}) if small else (block, {**compression_options(compression), **uncached})
    return group.create_dataset(path, shape=(0, *row), maxshape=(None, *row), dtype=dtype, chunks=(rows, *row), **options)


def rounded_for_storage(path: str, rows: np.ndarray) -> np.ndarray:
    """`rows` as stored at `path`: float32 arrays listed in SIGNIFICANT_BITS are rounded to that
    many significant bits, in place (the writer passes its own buffer)."""
    bits = SIGNIFICANT_BITS.get(path)
    if bits is None or rows.dtype != np.float32:
        return rows
    rows = np.ascontiguousarray(rows)
    drop = 23 - bits
    raw = rows.view(np.uint32)
    raw += np.uint32(1 << (drop - 1))  # round half away from zero, then clear the dropped bits
    raw &= np.uint32((0xFFFFFFFF >> drop) << drop)
    return rows


class GrowingArray:
    """Appends rows to a dataset made by `create_growing`, through h5py's low-level calls (its
    slicing path costs several times more than the write itself for a small block).

    An uncompressed dataset keeps its last chunk in memory and writes it whole with
    `write_direct_chunk` on every append: that skips HDF5's selection and filter machinery (6
    instead of 23 us a call, which the writer makes for each of an episode's small arrays every
    block). The chunk goes back to the same place in the file with the same bytes for the rows
    already there, so an append cannot endanger them.
    """

    def __init__(self, dataset: h5py.Dataset) -> None:
        self.rows = dataset.shape[0]
        # Read once: each h5py property read costs about as much as a small write.
        self._id, self._dtype, self._row, self._origin = dataset.id, dataset.dtype, dataset.shape[1:], (0,) * (dataset.ndim - 1)
        self._chunk: np.ndarray | None = None
        if self._id.get_create_plist().get_nfilters() == 0:
            self._chunk = np.zeros(dataset.chunks, dataset.dtype)
            held = self.rows % len(self._chunk)
            if held:  # reopened mid-chunk: pick up the rows already in it
                self._chunk[:held] = dataset[self.rows - held:self.rows]

    def append(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self._dtype)
        start, self.rows = self.rows, self.rows + len(rows)
        self._id.set_extent((self.rows, *self._row))
        if self._chunk is None:
            target = self._id.get_space()
            target.select_hyperslab((start, *self._origin), rows.shape)
            self._id.write(h5s.create_simple(rows.shape), target, rows)
            return
        size = len(self._chunk)
        while len(rows):
            first, offset = start - start % size, start % size
            take = min(len(rows), size - offset)
            self._chunk[offset:offset + take] = rows[:take]
            self._id.write_direct_chunk((first, *self._origin), self._chunk)
            if offset + take == size:
                self._chunk[:] = 0
            rows, start = rows[take:], start + take


# -- latents -----------------------------------------------------------------------------------------
LATENT_DTYPE = np.float16


def latent_name(level: int) -> str:
    """The array of level `level` (0: finest) inside an episode's LATENTS group."""
    return f"level_{level}"


def latent_path(level: int) -> str:
    return f"{LATENTS}/{latent_name(level)}"


def latents_done(group: h5py.Group, tokenizer_id: str) -> bool:
    """True when this episode holds every frame's latents from tokenizer `tokenizer_id`."""
    latents = group.get(LATENTS)
    return latents is not None and latents.attrs.get("tokenizer") == tokenizer_id and bool(latents.attrs.get("complete"))


def reset_latents(group: h5py.Group, tokenizer_id: str) -> h5py.Group:
    """Drop any (partial or other tokenizer's) latents and start an empty group for new ones."""
    if LATENTS in group:
        del group[LATENTS]
    latents = group.create_group(LATENTS)
    latents.attrs.update({"tokenizer": tokenizer_id, "complete": False})
    return latents


# -- reading -----------------------------------------------------------------------------------------
def episode_steps(group: h5py.Group) -> int:
    """Steps safely on disk: what the last flush recorded, never more than the arrays hold."""
    steps = int(group.attrs.get("steps", 0))
    lengths = [group[p].shape[0] - 1 for p in frame_paths(group)] + [group[f].shape[0] for f in STEP_FIELDS if f in group]
    return max(0, min([steps, *lengths]))


def frame_paths(group: h5py.Group) -> list[str]:
    """Every per-frame array in an episode group (obs, pose, infos, latents)."""
    paths = [p for p in (POSE,) if p in group]
    for sub in (OBS, INFOS, LATENTS):
        if sub in group:
            paths += [f"{sub}/{k}" for k in group[sub]]
    return paths


def action_paths(group: h5py.Group) -> list[str]:
    return [f"{ACTIONS}/{k}" for k in group[ACTIONS]] if ACTIONS in group else []


@dataclass(frozen=True)
class EpisodeRef:
    shard: Path
    name: str
    steps: int
    complete: bool
    explorer: str = ""  # the recorded `explorer` attribute ("" for imported episodes)


def episode_refs(root: Path) -> list[EpisodeRef]:
    refs = []
    for path in shard_paths(root):
        with open_shard(path) as f:
            for name in f:
                if name.startswith(EPISODE_PREFIX):
                    attrs = f[name].attrs
                    refs.append(EpisodeRef(path, name, episode_steps(f[name]), bool(attrs.get("complete", False)),
                                           str(attrs.get("explorer", ""))))
    return sorted(refs, key=lambda r: episode_index(r.name))


# -- dataset.json ------------------------------------------------------------------------------------
def read_metadata(root: Path) -> dict[str, Any]:
    path = Path(root) / DATASET_JSON
    if not path.exists():
        raise UserError(f"{root}: not a dataset (no {DATASET_JSON})")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: invalid JSON ({e.msg} at line {e.lineno})") from None
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise UserError(f"{path}: schema version {meta.get('schema_version')!r}, this toolkit reads {SCHEMA_VERSION}")
    return meta


def write_metadata(root: Path, meta: dict[str, Any]) -> None:
    """Write dataset.json atomically, so a crash never leaves half a file."""
    path = Path(root) / DATASET_JSON
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"schema_version": SCHEMA_VERSION, **meta}, indent=2, default=_jsonable))
    tmp.replace(path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (np.ndarray, tuple, set)):
        return list(value)
    return str(value)
