"""`EpisodeWriter`: appends one episode to a shard in flushed blocks (used by the recorder and importers)."""
from __future__ import annotations

from typing import Any, Mapping

import h5py
import numpy as np

from millivid_env.record import layout


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
        self._frames: list[dict[str, np.ndarray]] = []
        self._steps: list[dict[str, np.ndarray]] = []
        self._datasets: dict[str, h5py.Dataset] = {}  # h5py lookups cost more than the writes
        self._rows: dict[str, int] = {}
        self._steps_written = self._frames_written = 0

    def add_frame(self, fields: Mapping[str, np.ndarray]) -> None:
        """One observation row per dataset path (frame 0 first, then one per step)."""
        self._frames.append(dict(fields))
        if (self._frames_written + len(self._frames)) % self.block == 0:
            self.flush()

    def add_step(self, fields: Mapping[str, np.ndarray]) -> None:
        """One step row per dataset path (actions/*, rewards, terminations, truncations)."""
        self._steps.append(dict(fields))

    def flush(self) -> None:
        for rows in (self._frames, self._steps):
            for path in (rows[0] if rows else ()):
                self._append(path, np.stack([r[path] for r in rows]))
        # Only after every array holds the block does `steps` admit it: a crash in between is
        # read back as the previous flush.
        self._steps_written += len(self._steps)
        self._frames_written += len(self._frames)
        self.group.attrs["steps"] = min(self._steps_written, self._frames_written - 1)
        self.shard.flush()
        self._frames, self._steps = [], []

    def _append(self, path: str, rows: np.ndarray) -> None:
        if path not in self._datasets:
            self._datasets[path] = layout.create_growing(self.group, path, rows.shape[1:], rows.dtype, self.block, self.compression)
            self._rows[path] = 0
        layout.append_rows(self._datasets[path], self._rows[path], rows)
        self._rows[path] += len(rows)

    def finish(self) -> None:
        self.flush()
        self.group.attrs["complete"] = True
        self.shard.flush()
