"""`EpisodeWriter`: appends one episode to a shard in flushed blocks (used by the recorder and importers)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import h5py
import numpy as np

from millivid_env.record import layout


class BlockBuffer:
    """Rows of one block, one array per dataset path, allocated at the first row (no per-flush
    stacking). `columns`, (path, dtype or None to infer) pairs, declare the paths up front;
    otherwise the first row given as a mapping sets them."""

    def __init__(self, block: int, columns: Sequence[tuple[str, Any]] | None = None) -> None:
        self.block, self.rows = block, 0
        self.paths = None if columns is None else tuple(path for path, _ in columns)
        self._dtypes = None if columns is None else [dtype for _, dtype in columns]
        self._arrays: list[np.ndarray] = []

    def add(self, fields: Mapping[str, Any]) -> None:
        if self.paths is None:
            self.paths, self._dtypes = tuple(fields), [None] * len(fields)
        elif fields.keys() != set(self.paths):
            raise ValueError(f"a row with fields {sorted(fields)} in a block of {sorted(self.paths)}")
        self.add_values([fields[path] for path in self.paths])

    def add_values(self, values: Sequence[Any]) -> None:
        """One row as values in the order of `paths`: the recorder's per-step call, which builds no
        dict and no array per value (each costs more than the copy it feeds)."""
        if not self._arrays:
            if self.paths is None:
                raise ValueError("add_values before the block's paths are known; declare them or add() a mapping first")
            for value, dtype in zip(values, self._dtypes, strict=True):
                value = np.asarray(value, dtype)
                self._arrays.append(np.empty((self.block, *value.shape), value.dtype))
        rows = self.rows
        for array, value in zip(self._arrays, values, strict=True):
            array[rows] = value
        self.rows = rows + 1

    def take(self) -> dict[str, np.ndarray]:
        """The buffered rows (views valid until the next add), emptying the buffer."""
        rows, self.rows = self.rows, 0
        return {path: array[:rows] for path, array in zip(self.paths, self._arrays)} if rows else {}


class EpisodeWriter:
    """Buffers frames and steps, appends them a block at a time and flushes the file.

    Flushes fall where the frame arrays reach a multiple of `block` rows, so every compressed
    chunk is written once, whole, and never rewritten: a kill during a later write cannot damage
    a flushed frame. (Small rows are stored uncompressed and their chunks rewritten in place with
    the same bytes for the rows already there.) The episode's `steps` attribute only admits steps
    once every array holds them, so after a crash the episode reads back as of its last flush.
    Call `add_step` before the `add_frame` of the frame that step led to; `finish()` marks the
    episode complete. Rows come as mappings of dataset path to value, or, where the columns were
    declared (`frame_columns`, `step_columns`: see `BlockBuffer`), as bare values in their order.
    """

    def __init__(self, shard: h5py.File, index: int, block: int = layout.BLOCK, compression: str = layout.COMPRESSION,
                 attrs: Mapping[str, Any] | None = None, frame_columns: Sequence[tuple[str, Any]] | None = None,
                 step_columns: Sequence[tuple[str, Any]] | None = None) -> None:
        name = layout.episode_name(index)
        if name in shard:
            raise ValueError(f"{shard.filename}: {name} already exists; refusing to overwrite it")
        self.shard, self.block, self.compression = shard, block, compression
        self.group = shard.create_group(name)
        self.group.attrs.update({"steps": 0, "complete": False, **(attrs or {})})
        # Rewritten in place at every flush: h5py's attrs[...] = deletes and recreates it (~90 us).
        self._steps_attr = h5py.h5a.open(self.group.id, b"steps")
        self._frames, self._steps = BlockBuffer(block, frame_columns), BlockBuffer(block, step_columns)
        self._arrays: dict[str, layout.GrowingArray] = {}  # h5py lookups cost more than the writes
        self._steps_written = self._frames_written = 0

    def add_frame(self, fields: Mapping[str, Any]) -> None:
        """One observation row per dataset path (frame 0 first, then one per step)."""
        self._frames.add(fields)
        self._flush_at_block_end()

    def add_frame_values(self, values: Sequence[Any]) -> None:
        self._frames.add_values(values)
        self._flush_at_block_end()

    def add_step(self, fields: Mapping[str, Any]) -> None:
        """One step row per dataset path (actions/*, rewards, terminations, truncations)."""
        self._steps.add(fields)

    def add_step_values(self, values: Sequence[Any]) -> None:
        self._steps.add_values(values)

    def _flush_at_block_end(self) -> None:
        if (self._frames_written + self._frames.rows) % self.block == 0:
            self.flush()

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
