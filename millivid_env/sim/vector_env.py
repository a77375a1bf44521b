"""`gymnasium.make_vec("millivid/Sim-v0", num_envs=N)`: N simulated worlds in one forward pass.

Every step generates the next frame of all N worlds in one batch through the world model. A world
that terminates (with a reward head) or reaches `horizon` restarts from a fresh prompt in the same
step (`AutoresetMode.SAME_STEP`: its last frame is in `infos["final_obs"]`); the batch shares one
frame count, so its new prompt is led by its first frame held still (`Stepper.restart`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from millivid_env.errors import UserError
from millivid_env.sim.env import observation_space
from millivid_env.sim.simulation import DEFAULT_CHECKPOINT, Simulation, sim_settings


class SimVectorEnv(VectorEnv):
    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int = 1, checkpoint: str | Path = DEFAULT_CHECKPOINT, **settings: Any) -> None:
        if num_envs < 1:
            raise UserError(f"num_envs must be >= 1, got {num_envs}")
        self.sim = Simulation(sim_settings(checkpoint, settings))
        self.num_envs = num_envs
        self.single_observation_space = observation_space(self.sim.side)
        self.single_action_space = self.sim.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._steps = np.zeros(num_envs, np.int64)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """`options={"prompts": [one per world]}` or `{"prompt": one for every world}`; with neither,
        each world's prompt is rendered from the voxel world, as every restart's is."""
        super().reset(seed=seed)
        options = options or {}
        prompts = options.get("prompts", [options.get("prompt")] * self.num_envs)
        if len(prompts) != self.num_envs:
            raise UserError(f'options["prompts"] needs one prompt per world ({self.num_envs}), got {len(prompts)}')
        made = [self.sim.prompt(p, self.np_random) for p in prompts]
        self.sim.start(made, seed=int(self.np_random.integers(2**62)))
        self._steps = np.zeros(self.num_envs, np.int64)
        last = np.stack([latents[-1] for latents, _ in made])
        return {"pov": self.sim.frames(last)}, {"latents": self.sim.levels(last), "prompt_frames": np.full(self.num_envs, len(made[0][0]))}

    def step(self, actions: Any):
        latents, rewards, terminated = self.sim.step(self.sim.action_ids(actions))
        self._steps += 1
        truncated = ~terminated & (self._steps >= self.sim.settings.horizon)
        done = terminated | truncated
        frames, infos = self.sim.frames(latents), {}
        if done.any():
            infos = {"final_obs": np.array([{"pov": f} if d else None for f, d in zip(frames, done)], dtype=object), "_final_obs": done}
            for world in np.flatnonzero(done):
                self.sim.restart(int(world), self.sim.prompt(None, self.np_random))
                self._steps[world] = 0
            latents = self.sim.stepper.latents[:, -1]
            frames[done] = self.sim.frames(latents[done])
        infos["latents"] = self.sim.levels(latents)
        return {"pov": frames}, rewards, terminated, truncated, infos

    def rollout(self, actions: Sequence[Sequence[Any]]) -> np.ndarray:
        """Frames (N, T, H, W, 3) for T actions per world ((N, T) ints, or N lists of Dict actions),
        generated at once under the MilliVid chunk strategy from the current context, which it
        leaves as it was."""
        return self.sim.chunk(actions, seed=int(self.np_random.integers(2**62)))
