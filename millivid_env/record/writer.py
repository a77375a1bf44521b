"""`EpisodeWriter`: appends one episode to a shard in flushed blocks (used by the recorder and importers)."""
from __future__ import annotations

from typing import Any, Mapping

import h5py
import numpy as np

from millivid_env.record import layout


class BlockBuffer:
    """Rows of one block, per dataset path, in arrays allocated once (no per-flush stacking)."""

    def __init__(self, block: int) -> None:
        self.block, self.rows, self.arrays = block, 0, {}

    def add(self, fields: Mapping[str, np.ndarray]) -> None:
        for path, value in fields.items():
            array = self.arrays.get(path)
            if array is None:
                value = np.asarray(value)
                array = self.arrays[path] = np.empty((self.block, *value.shape), value.dtype)
            array[self.rows] = value
        self.rows += 1

    def take(self) -> dict[str, np.ndarray]:
        """The buffered rows (views valid until the next add), emptying the buffer."""
        rows, self.rows = self.rows, 0
        return {path: array[:rows] for path, array in self.arrays.items()} if rows else {}


class EpisodeWriter:
    """Buffers frames and steps, appends them a block at a time and flushes the file.

    Flushes fall where the frame arrays reach a multiple of `block` rows, so every compressed
    chunk is written once, whole, and never rewritten: a kill during a later write cannot damage
    a flushed frame. (Small rows are stored uncompressed and their chunks rewritten in place with
    the same bytes for the rows already there.) The episode's `steps` attribute only admits steps
    once every array holds them, so after a crash the episode reads back as of its last flush.
    Call `add_step` before the `add_frame` of the frame that step led to; `finish()` marks the
    episode complete.
    """

    def __init__(self, shard: h5py.File, index: int, block: int = 32, compression: str = "blosc-lz4",
                 attrs: Mapping[str, Any] | None = None) -> None:
        name = layout.episode_name(index)
        if name in shard:
            raise ValueError(f"{shard.filename}: {name} already exists; refusing to overwrite it")
        self.shard, self.block, self.compression = shard, block, compression
        self.group = shard.create_group(name)
        self.group.attrs.update({"steps": 0, "complete": False, **(attrs or {})})
        # Rewritten in place at every flush: h5py's attrs[...] = deletes and recreates it (~90 us).
        self._steps_attr = h5py.h5a.open(self.group.id, b"steps")
        self._frames, self._steps = BlockBuffer(block), BlockBuffer(block)
        self._arrays: dict[str, layout.GrowingArray] = {}  # h5py lookups cost more than the writes
        self._steps_written = self._frames_written = 0

    def add_frame(self, fields: Mapping[str, np.ndarray]) -> None:
        """One observation row per dataset path (frame 0 first, then one per step)."""
        self._frames.add(fields)
        if (self._frames_written + self._frames.rows) % self.block == 0:
            self.flush()

    def add_step(self, fields: Mapping[str, np.ndarray]) -> None:
        """One step row per dataset path (actions/*, rewards, terminations, truncations)."""
        self._steps.add(fields)

    def flush(self) -> None:
        frames, steps = self._frames.take(), self._steps.take()
        for path, rows in (*frames.items(), *steps.items()):
            self._append(path, rows)
        # Only after every array holds the block does `steps` admit it: a crash in between is
        # read back as the previous flush.
        self._steps_written += len(next(iter(steps.values()), ()))
        self._frames_written += len(next(iter(frames.values()), ()))
        steps = max(0, min(self._steps_written, self._frames_written - 1))
        self._steps_attr.write(np.array(steps, self._steps_attr.dtype))
        self.shard.flush()

    def _append(self, path: str, rows: np.ndarray) -> None:
        array = self._arrays.get(path)
        if array is None:
            dataset = layout.create_growing(self.group, path, rows.shape[1:], rows.dtype, self.block, self.compression)
            array = self._arrays[path] = layout.GrowingArray(dataset)
        array.append(layout.rounded_for_storage(path, rows))

    def finish(self) -> None:
        self.flush()
        self.group.attrs["complete"] = True
        self.shard.flush()
