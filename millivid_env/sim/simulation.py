"""A batch of simulated worlds stepped together: the core of `millivid/Sim-v0` and its vector env.

Knows prompts, the causal `Stepper` and decoding, nothing of Gymnasium's bookkeeping. A prompt is
the context a rollout starts from:

- `{"frames": uint8 (T, H, W, 3), "actions": T - 1 actions}`: live frames and the actions between
  them (e.g. from `millivid/VoxelLoop-v0`), encoded by the model's tokenizer;
- `{"latents": (T, tokens, C), "actions": T - 1 actions}`: an encoded slice, e.g. a dataset episode's;
- `None`: `prompt_frames` frames rendered from the voxel world `prompt_world` along a random walk
  (`millivid/VoxelLoop-v0`, or `millivid/VoxelWorld-v0` for a model of Dict actions),
  so a fresh clone needs no dataset. The world is left where the prompt ended (`world`), so the
  true world can be stepped beside the simulated one under the same actions.

Actions are those of the env the model's data came from (`action_space`); they become the ids the
model conditions on through its `envs.action_codec.ActionCodec`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import gymnasium as gym
import numpy as np
import torch

from millivid_env.errors import UserError
from millivid_env.models.encode import encode_frames
from millivid_env.models.sampler import SamplerConfig
from millivid_env.sim.reward_head import load_head
from millivid_env.sim.rollout import Stepper, decode, rollout
from millivid_env.sim.world_model import load_world_model

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINTS / "sim-64"
SHIPPED_HEADS = {"reach": CHECKPOINTS / "sim-64-reach-head"}  # reward heads named by task


@dataclass(frozen=True)
class SimSettings:
    checkpoint: str | Path = DEFAULT_CHECKPOINT
    tokenizer: str | Path | None = None  # where the run's tokenizer is, if not where its config says
    horizon: int = 1000  # steps before an episode truncates: rollouts drift the longer they run
    prompt_frames: int = 16  # frames of a rendered prompt
    prompt_world: int = 0  # world seed of the voxel world prompts are rendered from
    sampler_steps: int = 1  # denoising iterations per frame (`millivid bench sim`: more cost time, not quality, here)
    context_sigma: float = 0.0  # noise the context is seen at while sampling
    cache: str = "incremental"  # the context's keys and values: one new frame's a step, or "exact": all, every frame (see Stepper)
    reward_head: str | Path | None = None  # rewards and terminations: a `millivid train-reward` folder or a shipped task name

    def check(self) -> None:
        if self.horizon < 1 or self.prompt_frames < 1 or self.sampler_steps < 1:
            raise UserError(f"horizon, prompt_frames and sampler_steps must be >= 1, got {self.horizon}, "
                            f"{self.prompt_frames} and {self.sampler_steps}")


def sim_settings(checkpoint: str | Path, given: dict[str, Any]) -> SimSettings:
    """The env's keyword arguments as settings, with a clear error for one it does not take."""
    known = {f.name for f in fields(SimSettings)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise UserError(f"the simulator env takes no {', '.join(unknown)}; it takes {', '.join(sorted(known))}")
    return SimSettings(checkpoint=checkpoint, **given)


class Simulation:
    """Worlds generated one frame a step under the causal strategy, all from the same weights."""

    def __init__(self, settings: SimSettings) -> None:
        settings.check()
        self.settings = settings
        model = load_world_model(settings.checkpoint, settings.tokenizer)
        self.model = model if model.cfg.strategy == "causal" else model.with_strategy("causal")
        self.chunk_model = model.with_strategy("millivid")
        self.sampler = SamplerConfig(steps=settings.sampler_steps, context_sigma=settings.context_sigma)
        self.stepper = Stepper(self.model, self.sampler, cache=settings.cache)
        self.side = self.model.tokenizer.cfg.image_size
        self.codec = self.model.cfg.codec
        self.action_space = self.codec.space()
        self.world: gym.Env | None = None  # the voxel world prompts are rendered from, generated once
        head = settings.reward_head
        self.head = None if head is None else load_head(SHIPPED_HEADS.get(str(head), head), self.model.cfg.tokenizer_id, self.codec)

    def start(self, prompts: list[tuple[np.ndarray, np.ndarray]], seed: int) -> None:
        """Begin every world from its (latents, actions) prompt; all prompts as long as each other."""
        if len({len(latents) for latents, _ in prompts}) != 1:
            raise UserError(f"the worlds of one batch need prompts of one length, got {[len(p[0]) for p in prompts]}")
        no_action = np.full((len(prompts), 1), self.codec.none)
        self.stepper.generator.manual_seed(seed)
        self.stepper.start(np.stack([p[0] for p in prompts]), np.concatenate([no_action, np.stack([p[1] for p in prompts])], 1))

    def action_ids(self, actions: Any) -> np.ndarray:
        """Ids (B,) of one env action per world: (B,) ints, or a Dict of (B, ...) arrays."""
        worlds = len(self.stepper.latents)
        if self.codec.kind == "discrete":
            ids = np.asarray(actions)
            if ids.shape != (worlds,) or not np.issubdtype(ids.dtype, np.integer) or not np.all((ids >= 0) & (ids < self.codec.n)):
                raise UserError(f"actions must be ({worlds},) ints in [0, {self.codec.n}), got {ids.tolist()}")
            return ids.astype(np.int64)
        if not isinstance(actions, Mapping) or any(np.shape(v)[:1] != (worlds,) for v in actions.values()):
            shapes = {k: np.shape(v) for k, v in actions.items()} if isinstance(actions, Mapping) else type(actions).__name__
            raise UserError(f"actions must be a Dict of ({worlds}, ...) arrays, one row per world, got {shapes}")
        return np.array([self.codec.encode({k: v[i] for k, v in actions.items()}) for i in range(worlds)], np.int64)

    def step(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The next latents (B, tokens, C) of every world after its action id (`action_ids`), with
        the rewards (B,) and terminations (B,) the reward head reads from them (0 and False without one)."""
        before = self.stepper.latents[:, -1]
        after = self.stepper.step(ids)
        if self.head is None:
            return after, np.zeros(len(after), np.float32), np.zeros(len(after), bool)
        return (after, *self.head.predict(before, after, np.asarray(ids, np.int64)))

    def restart(self, world: int, prompt: tuple[np.ndarray, np.ndarray]) -> None:
        """One world of the batch starts over from its (latents, actions) prompt."""
        latents, actions = prompt
        self.stepper.restart(world, latents, np.concatenate([[self.codec.none], actions]))

    def frames(self, latents: np.ndarray) -> np.ndarray:
        return decode(self.model, latents)

    def levels(self, latents: np.ndarray) -> list[np.ndarray]:
        """(..., tokens, C) latents split into the pyramid's levels, finest first."""
        offsets = self.model.pyramid.offsets
        return [latents[..., offsets[k]:offsets[k + 1], :] for k in range(len(offsets) - 1)]

    def chunk(self, actions: Sequence[Any], seed: int) -> np.ndarray:
        """Frames (B, T, H, W, 3) for T env actions per world (B sequences), generated at once with
        the MilliVid chunk strategy from the current context, which it leaves as it was."""
        worlds = len(self.stepper.latents)
        if len(actions) != worlds or len({len(a) for a in actions}) != 1 or not len(actions[0]):
            raise UserError(f"rollout needs {worlds} sequences of T >= 1 actions, one per world, of one length each")
        actions = np.stack([self.codec.encode_many(a) for a in actions])
        context = self.stepper.latents
        frame_actions = np.concatenate([self.stepper.frame_actions, actions], 1)
        out = rollout(self.chunk_model, context, frame_actions, self.sampler, seed=seed)
        return decode(self.model, out.latents[:, context.shape[1]:])

    def prompt(self, prompt: dict[str, Any] | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Context latents (T, tokens, C) and the T - 1 actions between their frames."""
        if prompt is None:
            return self.rendered_prompt(rng)
        if not isinstance(prompt, dict) or ("frames" in prompt) == ("latents" in prompt):
            raise UserError('a prompt must be a dict with "frames" (T, H, W, 3) uint8 or "latents" '
                            '(T, tokens, C), and "actions" (T - 1,)')
        actions = self.codec.encode_many(prompt.get("actions", []))
        if "frames" in prompt:
            frames = np.asarray(prompt["frames"])
            shape = (self.side, self.side, 3)
            if frames.ndim != 4 or frames.shape[1:] != shape or frames.dtype != np.uint8:
                raise UserError(f'prompt "frames" must be uint8 (T, {", ".join(map(str, shape))}), got {frames.dtype} {frames.shape}')
            latents = self.encode(frames)
        else:
            latents = np.asarray(prompt["latents"], np.float32)
            if latents.ndim != 3 or latents.shape[1:] != (self.model.pyramid.total, self.model.cfg.channels):
                raise UserError(f'prompt "latents" must be (T, {self.model.pyramid.total}, {self.model.cfg.channels}), '
                                f"got {latents.shape}")
        if len(actions) != len(latents) - 1:
            raise UserError(f"a prompt of {len(latents)} frames needs {len(latents) - 1} actions, got {len(actions)}")
        return latents, actions

    def rendered_prompt(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        from millivid_env.agents import make_explorer

        if self.world is None:
            env_id = "millivid/VoxelWorld-v0" if self.codec.kind == "minerl" else "millivid/VoxelLoop-v0"
            self.world = gym.make(env_id, size=(self.side, self.side), world_seed=self.settings.prompt_world,
                                  render_mode="rgb_array", disable_env_checker=True)
        explorer = make_explorer("random", self.world.action_space, seed=int(rng.integers(2**31)))
        obs, info = self.world.reset(seed=int(rng.integers(2**31)))
        frames, actions = [obs["pov"]], []
        for _ in range(self.settings.prompt_frames - 1):
            actions.append(explorer.act(obs, info))
            obs, _, _, _, info = self.world.step(actions[-1])
            frames.append(obs["pov"])
        return self.encode(np.stack(frames)), self.codec.encode_many(actions)

    def encode(self, frames: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate(encode_frames(self.model.tokenizer, frames), 1).astype(np.float32)
