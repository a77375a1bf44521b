"""`Recorder`: a Gymnasium wrapper that streams every step of any env into an HDF5 shard."""
from __future__ import annotations

from typing import Any, Iterator, Mapping

import gymnasium as gym
import h5py
import numpy as np
from gymnasium import spaces

from millivid_env.record import layout
from millivid_env.record.writer import EpisodeWriter

DEFAULT_INFO_KEYS = ("pose", "depth", "block_id")


class ActionFlattener:
    """Dict actions become one named array each (nested keys joined by '/'); others 'action'.

    The space is walked once, here: a step only reads the leaves, since every microsecond of a
    recorded step counts against the env's own (`millivid bench data`)."""

    def __init__(self, space: spaces.Space, prefix: str = "") -> None:
        self.leaves = [(keys, prefix + ("/".join(keys) or "action"), dtype) for keys, dtype in _action_leaves(space)]

    def __call__(self, action: Any) -> dict[str, np.ndarray]:
        out = {}
        for keys, name, dtype in self.leaves:
            value = action
            for key in keys:
                value = value[key]
            out[name] = np.asarray(value, dtype)
        return out


def _action_leaves(space: spaces.Space, keys: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if not isinstance(space, spaces.Dict):
        yield keys, np.int64 if isinstance(space, spaces.Discrete) else space.dtype
        return
    for key, sub in space.spaces.items():
        yield from _action_leaves(sub, (*keys, key))


def frame_fields(obs: Any, info: Mapping[str, Any], info_keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per-frame arrays keyed by their dataset path: observations, then the requested info keys."""
    fields = {}
    if isinstance(obs, Mapping):
        for key, value in obs.items():
            fields[layout.FRAME_FIELDS.get(key, f"obs/{key}")] = np.asarray(value)
    else:
        value = np.asarray(obs)
        image = value.dtype == np.uint8 and value.ndim == 3 and value.shape[-1] == 3
        fields["obs/rgb" if image else "obs/state"] = value
    for key in info_keys:
        if key not in info:
            raise KeyError(f"the env's info has no {key!r} (it has {sorted(info)}); drop it from info_keys")
        fields[layout.FRAME_FIELDS.get(key, f"infos/{key}")] = np.asarray(info[key])
    return fields


class Recorder(gym.Wrapper):
    """Records observations, actions, rewards, termination flags and chosen info fields.

    Each `reset` starts episode `next_episode` in `shard` (the global index the collector assigns,
    or one past the highest already there). An EpisodeWriter appends and flushes `block` steps at a
    time, so memory stays flat however long the episode and a killed process loses at most one
    block. An episode is marked complete when it terminates, truncates, or is ended with
    `end_episode()` / `close()`.
    """

    def __init__(self, env: gym.Env, shard: h5py.File, block: int = 32, compression: str = "blosc-lz4",
                 info_keys: tuple[str, ...] = DEFAULT_INFO_KEYS) -> None:
        super().__init__(env)
        layout.compression_options(compression)  # fail now on a bad name
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        self.shard, self.block, self.compression, self.info_keys = shard, block, compression, tuple(info_keys)
        existing = [layout.episode_index(n) for n in shard if n.startswith(layout.EPISODE_PREFIX)]
        self.next_episode = max(existing, default=-1) + 1
        self.episode_attrs: dict[str, Any] = {}
        self._actions = ActionFlattener(env.action_space, prefix="actions/")
        self._writer: EpisodeWriter | None = None

    # -- Gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.end_episode()
        obs, info = self.env.reset(seed=seed, options=options)
        attrs = {"seed": -1 if seed is None else seed, **self.episode_attrs}
        self._writer = EpisodeWriter(self.shard, self.next_episode, self.block, self.compression, attrs)
        self._writer.add_frame(frame_fields(obs, info, self.info_keys))
        self.next_episode += 1
        return obs, info

    def step(self, action: Any):
        if self._writer is None:
            raise RuntimeError("call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(action)
        step = self._actions(action)
        step.update(rewards=np.float32(reward), terminations=np.bool_(terminated), truncations=np.bool_(truncated))
        self._writer.add_step(step)
        self._writer.add_frame(frame_fields(obs, info, self.info_keys))
        if terminated or truncated:
            self.end_episode()
        return obs, reward, terminated, truncated, info

    def end_episode(self) -> None:
        """Write what is buffered and mark the episode complete (no-op between episodes)."""
        if self._writer is not None:
            self._writer.finish()
            self._writer = None

    def close(self) -> None:
        self.end_episode()
        super().close()
