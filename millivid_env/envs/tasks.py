"""Tasks in the real voxel world, as wrappers with their own env ids: the rewards, terminations
and success flags a simulator's reward head learns from recorded episodes.

- `millivid/VoxelReach-v0`: reach a named landmark (`landmark=` or, by default, one drawn per
  episode). Reward: the distance closed this step / `scale`, and +1 on arrival within `radius`
  blocks, which ends the episode.
- `millivid/VoxelReturn-v0`: go at least `leave` blocks from where the episode started, then come
  back within `radius` of it. Reward +1 on the return, which ends the episode.

Both put `info["task"]` = {"success": bool, "distance": blocks to the goal, ...} on every step.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from millivid_env.envs.voxel_world import VoxelLoopEnv
from millivid_env.errors import UserError



def _horizontal(pose: np.ndarray, x: float, z: float) -> float:
    return float(np.hypot(pose[0] - x, pose[2] - z))


class ReachLandmark(gym.Wrapper):
    def __init__(self, env: gym.Env, landmark: str | None = None, radius: float = 6.0, scale: float = 10.0) -> None:
        super().__init__(env)
        self.landmark, self.radius, self.scale = landmark, radius, scale
        self.target: tuple[str, float, float] | None = None
        self._distance = 0.0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        marks = self.env.unwrapped.world.landmarks
        if not marks:
            raise UserError("this world has no landmarks to reach")
        names = [m.name for m in marks]
        if self.landmark is not None and self.landmark not in names:
            raise UserError(f"no landmark {self.landmark!r} in this world; it has {names}")
        mark = marks[names.index(self.landmark)] if self.landmark else marks[int(self.np_random.integers(len(marks)))]
        self.target = (mark.name, mark.x + 0.5, mark.z + 0.5)
        self._distance = _horizontal(info["pose"], *self.target[1:])
        return obs, self._with_task(info, False)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        distance = _horizontal(info["pose"], *self.target[1:])
        success = distance <= self.radius
        reward += (self._distance - distance) / self.scale + (1.0 if success else 0.0)
        self._distance = distance
        return obs, float(reward), terminated or success, truncated, self._with_task(info, success)

    def _with_task(self, info: dict[str, Any], success: bool) -> dict[str, Any]:
        name, x, z = self.target
        return {**info, "task": {"name": "reach", "target": name, "goal": np.array([x, z]), "distance": self._distance,
                                 "success": success}}


class ReturnToStart(gym.Wrapper):
    def __init__(self, env: gym.Env, leave: float = 16.0, radius: float = 3.0) -> None:
        super().__init__(env)
        if not 0 < radius < leave:
            raise UserError(f"ReturnToStart needs 0 < radius < leave, got radius {radius} and leave {leave}")
        self.leave, self.radius = leave, radius
        self.start = np.zeros(2)
        self.left = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.start, self.left = info["pose"][[0, 2]].copy(), False
        return obs, self._with_task(info, 0.0, False)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        distance = _horizontal(info["pose"], *self.start)
        self.left = self.left or distance >= self.leave
        success = self.left and distance <= self.radius
        return obs, float(reward) + (1.0 if success else 0.0), terminated or success, truncated, \
            self._with_task(info, distance, success)

    def _with_task(self, info: dict[str, Any], distance: float, success: bool) -> dict[str, Any]:
        return {**info, "task": {"name": "return", "goal": self.start.copy(), "distance": distance, "left": self.left,
                                 "success": success}}


def make_reach(landmark: str | None = None, radius: float = 6.0, **kwargs: Any) -> gym.Env:
    return ReachLandmark(VoxelLoopEnv(**kwargs), landmark=landmark, radius=radius)


def make_return(leave: float = 16.0, radius: float = 3.0, **kwargs: Any) -> gym.Env:
    return ReturnToStart(VoxelLoopEnv(**kwargs), leave=leave, radius=radius)
