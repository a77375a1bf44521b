"""`millivid/Crafter-v0`: Crafter (a third-party gridworld, old 4-tuple API) as a Gymnasium env."""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class CrafterEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, size: tuple[int, int] = (64, 64), length: int = 10000) -> None:
        try:
            import crafter
        except ImportError:
            raise gym.error.DependencyNotInstalled("millivid/Crafter-v0 needs crafter: pip install crafter") from None
        self._env = crafter.Env(size=tuple(size), length=length)
        self.observation_space = spaces.Box(0, 255, (*tuple(size), 3), np.uint8)
        self.action_space = spaces.Discrete(self._env.action_space.n)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            # Crafter derives each episode's world from (seed, episode number).
            self._env._seed, self._env._episode = seed, 0
        return self._env.reset(), {}

    def step(self, action: int):
        obs, reward, done, info = self._env.step(int(action))
        died = done and info.get("discount", 1.0) == 0.0
        return obs, float(reward), died, done and not died, info
