"""`millivid/Sim-v0`: the learned simulator as a Gymnasium env, one generated frame per step.

A thin wrapper over `sim.rollout.Stepper` (which knows nothing of Gymnasium): the world model
rolls out under the causal strategy, one whole frame per action. `reset(seed=, options={"prompt":
...})` starts from context frames:

- `{"frames": uint8 (T, H, W, 3), "actions": (T - 1,)}`: live frames and the actions between them
  (e.g. from `millivid/VoxelLoop-v0`), encoded by the model's tokenizer;
- `{"latents": (T, tokens, C), "actions": (T - 1,)}`: an encoded slice, e.g. a dataset episode's;
- no prompt: `prompt_frames` frames rendered from the voxel world `prompt_world` along a random
  walk drawn from the reset seed, so a fresh clone needs no dataset.

Same seed, prompt and actions give the same frames. Episodes truncate after `horizon` steps,
since rollouts drift the longer they run; memory stays bounded however long they run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from millivid_env.errors import UserError
from millivid_env.models.encode import encode_frames
from millivid_env.models.sampler import SamplerConfig
from millivid_env.sim.rollout import Stepper, decode, rollout
from millivid_env.sim.world_model import load_world_model

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "sim-64"


class SimEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, checkpoint: str | Path = DEFAULT_CHECKPOINT, tokenizer: str | Path | None = None,
                 horizon: int = 1000, prompt_frames: int = 16, prompt_world: int = 0, sampler_steps: int = 2,
                 context_sigma: float = 0.0, render_mode: str | None = None) -> None:
        if render_mode not in (None, "rgb_array"):
            raise UserError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if horizon < 1 or prompt_frames < 1:
            raise UserError(f"horizon and prompt_frames must be >= 1, got {horizon} and {prompt_frames}")
        model = load_world_model(checkpoint, tokenizer)
        self.model = model if model.cfg.strategy == "causal" else model.with_strategy("causal")
        self.chunk_model = model.with_strategy("millivid")
        self.sampler = SamplerConfig(steps=sampler_steps, context_sigma=context_sigma)
        self.stepper = Stepper(self.model, self.sampler)
        self.horizon, self.prompt_frames, self.render_mode = horizon, prompt_frames, render_mode
        side = self.model.tokenizer.cfg.image_size
        self.observation_space = spaces.Dict({"pov": spaces.Box(0, 255, (side, side, 3), np.uint8)})
        self.action_space = spaces.Discrete(self.model.cfg.actions)
        self._frame = np.zeros((side, side, 3), np.uint8)
        self.prompt_world = prompt_world
        self._world: gym.Env | None = None  # the voxel world prompts are rendered from, generated once
        self._steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        latents, actions = self._prompt((options or {}).get("prompt"))
        self.stepper.generator.manual_seed(int(self.np_random.integers(2**62)))
        self.stepper.start(latents[None], np.concatenate([[self.model.cfg.actions], actions])[None])
        self._steps = 0
        self._frame = decode(self.model, latents[-1:])[0]
        return {"pov": self._frame}, {"latents": self._levels(latents[-1]), "prompt_frames": len(latents)}

    def step(self, action: Any):
        if not self.action_space.contains(action):
            raise UserError(f"action must be an int in [0, {self.action_space.n}), got {action!r}")
        latents = self.stepper.step(np.array([int(action)]))[0]
        self._frame = decode(self.model, latents[None])[0]
        self._steps += 1
        return {"pov": self._frame}, 0.0, False, self._steps >= self.horizon, {"latents": self._levels(latents)}

    def render(self) -> np.ndarray | None:
        return self._frame if self.render_mode == "rgb_array" else None

    def rollout(self, actions: np.ndarray) -> np.ndarray:
        """Frames (len(actions), H, W, 3) generated at once under the MilliVid chunk strategy from
        the current context (which it does not advance: `step` goes on as if it had not run)."""
        actions = np.asarray(actions).reshape(-1)
        if not len(actions) or not np.all((actions >= 0) & (actions < self.action_space.n)):
            raise UserError(f"rollout needs actions in [0, {self.action_space.n}), got {actions.tolist()[:8]}")
        context = self.stepper.latents
        frame_actions = np.concatenate([self.stepper.frame_actions, actions[None]], 1)
        out = rollout(self.chunk_model, context, frame_actions, self.sampler, seed=int(self.np_random.integers(2**62)))
        return decode(self.model, out.latents[0, context.shape[1]:])

    def _levels(self, latents: np.ndarray) -> list[np.ndarray]:
        offsets = self.model.pyramid.offsets
        return [latents[offsets[k]:offsets[k + 1]] for k in range(len(offsets) - 1)]

    def _prompt(self, prompt: dict[str, Any] | None) -> tuple[np.ndarray, np.ndarray]:
        """Context latents (T, tokens, C) and the T - 1 actions between their frames."""
        if prompt is None:
            return self._rendered_prompt()
        if not isinstance(prompt, dict) or ("frames" in prompt) == ("latents" in prompt):
            raise UserError('options["prompt"] must be a dict with "frames" (T, H, W, 3) uint8 or "latents" '
                            '(T, tokens, C), and "actions" (T - 1,)')
        actions = np.asarray(prompt.get("actions", []), np.int64).reshape(-1)
        if "frames" in prompt:
            frames = np.asarray(prompt["frames"])
            if frames.ndim != 4 or frames.shape[1:] != self.observation_space["pov"].shape or frames.dtype != np.uint8:
                raise UserError(f'prompt "frames" must be uint8 (T, {", ".join(map(str, self.observation_space["pov"].shape))}), '
                                f"got {frames.dtype} {frames.shape}")
            latents = np.concatenate(encode_frames(self.model.tokenizer, frames), 1).astype(np.float32)
        else:
            latents = np.asarray(prompt["latents"], np.float32)
            if latents.ndim != 3 or latents.shape[1:] != (self.model.pyramid.total, self.model.cfg.channels):
                raise UserError(f'prompt "latents" must be (T, {self.model.pyramid.total}, {self.model.cfg.channels}), '
                                f"got {latents.shape}")
        if len(actions) != len(latents) - 1 or not np.all((actions >= 0) & (actions < self.action_space.n)):
            raise UserError(f"a prompt of {len(latents)} frames needs {len(latents) - 1} actions in "
                            f"[0, {self.action_space.n}), got {actions.tolist()[:8]}")
        return latents, actions

    def _rendered_prompt(self) -> tuple[np.ndarray, np.ndarray]:
        from millivid_env.agents import make_explorer

        if self._world is None:
            side = self.observation_space["pov"].shape[0]
            self._world = gym.make("millivid/VoxelLoop-v0", size=(side, side), world_seed=self.prompt_world,
                                   disable_env_checker=True)
        explorer = make_explorer("random", self._world.action_space, seed=int(self.np_random.integers(2**31)))
        obs, info = self._world.reset(seed=int(self.np_random.integers(2**31)))
        frames, actions = [obs["pov"]], []
        for _ in range(self.prompt_frames - 1):
            actions.append(explorer.act(obs, info))
            obs, _, _, _, info = self._world.step(actions[-1])
            frames.append(obs["pov"])
        with torch.no_grad():
            latents = np.concatenate(encode_frames(self.model.tokenizer, np.stack(frames)), 1).astype(np.float32)
        return latents, np.asarray(actions, np.int64)
