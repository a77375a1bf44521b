"""`millivid/MineRL-v0`: a real MineRL env behind the same observation, action and pose schema.

MineRL needs Java 8 and downloads Minecraft when it is built, so it is an optional extra; the
mapping functions below are plain code, tested on MineRL-shaped dicts without MineRL installed.
"""
from __future__ import annotations

from typing import Any, Mapping

import cv2
import gymnasium as gym
import numpy as np
from gymnasium import spaces

from millivid_env.envs.actions import BUTTONS, action_space, validate
from millivid_env.errors import UserError

INSTALL_HINT = (
    "millivid/MineRL-v0 needs MineRL, which is not installed: run `pip install 'millivid-env[minerl]'` "
    "with a Java 8 JDK on PATH (MineRL builds Minecraft at install time); "
    "millivid/VoxelWorld-v0 needs nothing extra"
)
POSE_KEYS = ("xpos", "ypos", "zpos", "yaw", "pitch")


def pose_from_minerl(obs: Mapping[str, Any]) -> np.ndarray:
    """(x, y, z, yaw, pitch) from MineRL's `location_stats`; NaN where the env does not report it."""
    stats = obs.get("location_stats", {})
    return np.array([float(np.asarray(stats.get(k, np.nan))) for k in POSE_KEYS])


def pov_from_minerl(obs: Mapping[str, Any], size: tuple[int, int]) -> np.ndarray:
    pov = np.asarray(obs["pov"], np.uint8)
    if pov.ndim != 3 or pov.shape[2] != 3:
        raise UserError(f"MineRL pov must be (H, W, 3) uint8, got shape {pov.shape}")
    if pov.shape[:2] != tuple(size):
        pov = cv2.resize(pov, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return pov


def action_to_minerl(action: Mapping[str, Any], noop: Mapping[str, Any]) -> dict[str, Any]:
    """Our Dict action on top of MineRL's no-op; `use` becomes `place` on MineRL 0.x envs."""
    validate(action)
    out = dict(noop)
    for b in BUTTONS:
        value = int(action.get(b, 0))
        if b == "use" and "use" not in out and "place" in out:
            out["place"] = "dirt" if value else "none"
        elif b in out:
            out[b] = value
    out["camera"] = np.asarray(action.get("camera", (0.0, 0.0)), np.float32)
    return out


class MineRLEnv(gym.Env):
    """Wraps `minerl_id` (a MineRL env id) with our 5-tuple API and schema."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, minerl_id: str = "MineRLNavigateDense-v0", size: tuple[int, int] = (64, 64)) -> None:
        try:
            import minerl  # noqa: F401  (registers MineRL's env ids with gym)
            import gym as legacy_gym
        except ImportError as e:
            raise gym.error.DependencyNotInstalled(INSTALL_HINT) from e
        self._env = legacy_gym.make(minerl_id)
        self.size = tuple(size)
        self.observation_space = spaces.Dict({"pov": spaces.Box(0, 255, (*self.size, 3), np.uint8)})
        self.action_space = action_space()

    def _convert(self, obs: Mapping[str, Any]):
        return {"pov": pov_from_minerl(obs, self.size)}, {"pose": pose_from_minerl(obs)}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._env.seed(seed)
        return self._convert(self._env.reset())

    def step(self, action: Mapping[str, Any]):
        obs, reward, done, info = self._env.step(action_to_minerl(action, self._env.action_space.noop()))
        pov, extra = self._convert(obs)
        return pov, float(reward), bool(done), False, extra

    def close(self) -> None:
        self._env.close()
