"""`gymnasium.make_vec("millivid/Sim-v0", num_envs=N)`: N simulated worlds in one forward pass.

Every step generates the next frame of all N worlds in one batch through the world model. The
worlds run in lockstep: they start together and truncate together after `horizon` steps (there is
no per-world termination yet), and then all restart from fresh prompts in the same step
(`AutoresetMode.SAME_STEP`: the last frames are in `infos["final_obs"]`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from millivid_env.errors import UserError
from millivid_env.sim.env import observation_space
from millivid_env.sim.simulation import DEFAULT_CHECKPOINT, SimSettings, Simulation


class SimVectorEnv(VectorEnv):
    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int = 1, checkpoint: str | Path = DEFAULT_CHECKPOINT, **settings: Any) -> None:
        if num_envs < 1:
            raise UserError(f"num_envs must be >= 1, got {num_envs}")
        self.sim = Simulation(SimSettings(checkpoint=checkpoint, **settings))
        self.num_envs = num_envs
        self.single_observation_space = observation_space(self.sim.side)
        self.single_action_space = spaces.Discrete(self.sim.actions)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._steps = 0
        self._options: dict[str, Any] = {}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """`options={"prompts": [one per world]}` or `{"prompt": one for every world}`; neither
        renders a prompt per world from the voxel world."""
        super().reset(seed=seed)
        self._options = options or {}
        return self._start()

    def _start(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        prompts = self._options.get("prompts", [self._options.get("prompt")] * self.num_envs)
        if len(prompts) != self.num_envs:
            raise UserError(f'options["prompts"] needs one prompt per world ({self.num_envs}), got {len(prompts)}')
        made = [self.sim.prompt(p, self.np_random) for p in prompts]
        self.sim.start(made, seed=int(self.np_random.integers(2**62)))
        self._steps = 0
        last = np.stack([latents[-1] for latents, _ in made])
        return {"pov": self.sim.frames(last)}, {"latents": self.sim.levels(last), "prompt_frames": np.full(self.num_envs, len(made[0][0]))}

    def step(self, actions: Any):
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or not np.all((actions >= 0) & (actions < self.sim.actions)):
            raise UserError(f"actions must be ({self.num_envs},) ints in [0, {self.sim.actions}), got {actions.tolist()}")
        latents = self.sim.step(actions.astype(np.int64))
        frames = self.sim.frames(latents)
        obs, infos = {"pov": frames}, {"latents": self.sim.levels(latents)}
        self._steps += 1
        truncated = np.full(self.num_envs, self._steps >= self.sim.settings.horizon)
        if truncated[0]:
            obs, fresh = self._start()
            infos = {**fresh, "final_obs": [{"pov": frame} for frame in frames],
                     "final_info": infos, "_final_obs": truncated, "_final_info": truncated}
        return obs, np.zeros(self.num_envs), np.zeros(self.num_envs, bool), truncated, infos

    def rollout(self, actions: np.ndarray) -> np.ndarray:
        """Frames (N, T, H, W, 3) for (N, T) actions, generated at once under the MilliVid chunk
        strategy from the current context, which it leaves as it was."""
        return self.sim.chunk(np.asarray(actions), seed=int(self.np_random.integers(2**62)))
