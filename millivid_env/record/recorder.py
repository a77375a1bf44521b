"""`Recorder`: a Gymnasium wrapper that streams every step of any env into an HDF5 shard."""
from __future__ import annotations

from typing import Any, Iterator, Mapping

import gymnasium as gym
import h5py
import numpy as np
from gymnasium import spaces

from millivid_env.errors import UserError
from millivid_env.record import layout
from millivid_env.record.writer import EpisodeWriter

DEFAULT_INFO_KEYS = ("pose", "depth", "block_id")


class ActionFlattener:
    """Dict actions become one named array each (nested keys joined by '/'); others 'action'.

    The space is walked once, here: a step only reads the leaves, since every microsecond of a
    recorded step counts against the env's own (`millivid bench data`)."""

    def __init__(self, space: spaces.Space, prefix: str = "") -> None:
        leaves = list(_action_leaves(space))
        self.columns = [(prefix + ("/".join(keys) or "action"), dtype) for keys, dtype in leaves]
        self._keys = [keys for keys, _ in leaves]

    def values(self, action: Any) -> list[Any]:
        """The leaves of `action`, in the order of `columns` (as given: the buffer casts them)."""
        out = []
        for keys in self._keys:
            value = action
            for key in keys:
                value = value[key]
            out.append(value)
        return out


def _action_leaves(space: spaces.Space, keys: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if not isinstance(space, spaces.Dict):
        yield keys, np.int64 if isinstance(space, spaces.Discrete) else space.dtype
        return
    for key, sub in space.spaces.items():
        yield from _action_leaves(sub, (*keys, key))


class MissingInfoKey(UserError, KeyError):
    """An info key the recorder was asked to store that the env does not give (a recipe's
    `info_keys`): a KeyError to code, one line to the command line."""

    def __str__(self) -> str:  # KeyError's own str() would quote the message
        return str(self.args[0])


class FrameSource:
    """Which arrays of an env's observations and info make a recorded frame, and their dataset
    paths: Dict observations by key, a lone uint8 (H, W, 3) image as obs/rgb, other arrays as
    obs/state; then the requested info keys. Fixed by the first observation."""

    def __init__(self, obs: Any, info_keys: tuple[str, ...]) -> None:
        if isinstance(obs, Mapping):
            self._obs_keys: list[str] | None = list(obs)
            paths = [layout.obs_path(key) for key in obs]
        else:
            value = np.asarray(obs)
            self._obs_keys = None
            paths = [layout.RGB if value.dtype == np.uint8 and value.ndim == 3 and value.shape[-1] == 3 else layout.STATE]
        self.info_keys = info_keys
        self.columns = [(path, None) for path in (*paths, *(layout.info_path(k) for k in info_keys))]

    def values(self, obs: Any, info: Mapping[str, Any]) -> list[Any]:
        """The frame's arrays in the order of `columns`."""
        out = [obs] if self._obs_keys is None else [obs[key] for key in self._obs_keys]
        try:
            out.extend([info[key] for key in self.info_keys])
        except KeyError as e:
            raise MissingInfoKey(f"the env's info has no {e.args[0]!r} (it has {sorted(info)}); drop it from info_keys") from None
        return out


class Recorder(gym.Wrapper):
    """Records observations, actions, rewards, termination flags and chosen info fields.

    Each `reset` starts episode `next_episode` in `shard` (the global index the collector assigns,
    or one past the highest already there). An EpisodeWriter appends and flushes `block` steps at a
    time, so memory stays flat however long the episode and a killed process loses at most one
    block. An episode is marked complete when it terminates, truncates, or is ended with
    `end_episode()` / `close()`.
    """

    def __init__(self, env: gym.Env, shard: h5py.File, block: int = layout.BLOCK, compression: str = layout.COMPRESSION,
                 info_keys: tuple[str, ...] = DEFAULT_INFO_KEYS) -> None:
        super().__init__(env)
        layout.compression_options(compression)  # fail now on a bad name
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        self.shard, self.block, self.compression, self.info_keys = shard, block, compression, tuple(info_keys)
        existing = [layout.episode_index(n) for n in shard if n.startswith(layout.EPISODE_PREFIX)]
        self.next_episode = max(existing, default=-1) + 1
        self.episode_attrs: dict[str, Any] = {}
        self._actions = ActionFlattener(env.action_space, prefix=f"{layout.ACTIONS}/")
        self._frames: FrameSource | None = None
        self._writer: EpisodeWriter | None = None

    # -- Gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.end_episode()
        obs, info = self.env.reset(seed=seed, options=options)
        attrs = {"seed": -1 if seed is None else seed, **self.episode_attrs}
        self._frames = self._frames or FrameSource(obs, self.info_keys)
        frame = self._frames.values(obs, info)  # a missing info key stops us before the shard changes
        self._writer = EpisodeWriter(self.shard, self.next_episode, self.block, self.compression, attrs,
                                     frame_columns=self._frames.columns, step_columns=[*self._actions.columns, *layout.STEP_COLUMNS])
        self._writer.add_frame_values(frame)
        self.next_episode += 1
        return obs, info

    def step(self, action: Any):
        if self._writer is None:
            raise RuntimeError("call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(action)
        values = self._actions.values(action)
        values += reward, terminated, truncated
        self._writer.add_step_values(values)
        self._writer.add_frame_values(self._frames.values(obs, info))
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
