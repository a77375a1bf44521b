"""`millivid/Sim-v0`: the learned simulator as a Gymnasium env, one generated frame per step.

A thin wrapper over `sim.simulation.Simulation` with a batch of one: the world model rolls out
under the causal strategy, one whole frame per action. `reset(seed=, options={"prompt": ...})`
starts from context frames (see `Simulation.prompt`; no prompt renders one from the voxel world,
so a fresh clone needs no dataset). Same seed, prompt and actions give the same frames. The action
space is that of the env the model's data came from: Discrete(3) macros for `sim-64` (VoxelLoop's),
MineRL-style Dict actions for a model trained on `millivid/VoxelWorld-v0` recordings (one step a
tick). Episodes truncate after `horizon` steps, since rollouts drift the longer they run; memory
stays bounded however long they run. With a reward head (`reward_head=`; `millivid/SimReach-v0`
ships one for reaching the red landmark) rewards and terminations are read from the generated
latents. `millivid/Sim-v0` under `gymnasium.make_vec` steps many worlds at once (`sim.vector_env`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from millivid_env.errors import UserError
from millivid_env.sim.simulation import DEFAULT_CHECKPOINT, Simulation, sim_settings


def observation_space(side: int) -> spaces.Dict:
    return spaces.Dict({"pov": spaces.Box(0, 255, (side, side, 3), np.uint8)})


class SimEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, checkpoint: str | Path = DEFAULT_CHECKPOINT, render_mode: str | None = None, **settings: Any) -> None:
        if render_mode not in (None, "rgb_array"):
            raise UserError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.sim = Simulation(sim_settings(checkpoint, settings))
        self.render_mode = render_mode
        self.observation_space = observation_space(self.sim.side)
        self.action_space = self.sim.action_space
        self._frame = np.zeros((self.sim.side, self.sim.side, 3), np.uint8)
        self._steps = 0

    @property
    def world(self) -> gym.Env | None:
        """The voxel world a rendered prompt came from, where the prompt left it (None before one)."""
        return self.sim.world

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        latents, actions = self.sim.prompt((options or {}).get("prompt"), self.np_random)
        self.sim.start([(latents, actions)], seed=int(self.np_random.integers(2**62)))
        self._steps = 0
        self._frame = self.sim.frames(latents[-1:])[0]
        return {"pov": self._frame}, {"latents": self.sim.levels(latents[-1]), "prompt_frames": len(latents)}

    def step(self, action: Any):
        latents, reward, terminated = (a[0] for a in self.sim.step(np.array([self.sim.codec.encode(action)])))
        self._frame = self.sim.frames(latents[None])[0]
        self._steps += 1
        truncated = self._steps >= self.sim.settings.horizon
        return {"pov": self._frame}, float(reward), bool(terminated), truncated, {"latents": self.sim.levels(latents)}

    def render(self) -> np.ndarray | None:
        return self._frame if self.render_mode == "rgb_array" else None

    def rollout(self, actions: Sequence[Any]) -> np.ndarray:
        """Frames (len(actions), H, W, 3) generated at once under the MilliVid chunk strategy from
        the current context (which it does not advance: `step` goes on as if it had not run)."""
        return self.sim.chunk([actions], seed=int(self.np_random.integers(2**62)))[0]
