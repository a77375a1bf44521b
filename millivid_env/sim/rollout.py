"""Rolling a world model forward: context latents plus one action per frame in, generated latents
(and decoded frames) out, under the model's strategy. Knows nothing of Gymnasium."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from millivid_env.errors import UserError
from millivid_env.models.sampler import SamplerConfig, sample
from millivid_env.models.tokenizer_training import to_uint8
from millivid_env.sim.tokens import arrange, collate
from millivid_env.sim.world_model import WorldModel

DECODE_CHUNK = 256


@dataclass
class Rollout:
    latents: np.ndarray  # (B, context + frames, tokens of all levels, C) float32: the context, then generated
    context: int
    tokens_per_step: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def frames(self) -> int:
        return self.latents.shape[1] - self.context


def check_actions(model: WorldModel, frame_actions: np.ndarray) -> None:
    bad = (frame_actions < 0) | (frame_actions > model.cfg.actions)
    if bad.any():
        raise UserError(f"actions must be integers in [0, {model.cfg.actions}) (the model's Discrete({model.cfg.actions}); "
                        f"{model.cfg.actions} stands for none), got {frame_actions[bad][0]}")


def rollout(model: WorldModel, context: np.ndarray, frame_actions: np.ndarray, sampler: SamplerConfig = SamplerConfig(),
            seed: int = 0, progress: bool = False) -> Rollout:
    """Generate frames after `context` (B, C0, tokens, C) latents. `frame_actions` (B, C0 + frames):
    the action that led to each frame (model.cfg.actions where none did, e.g. an episode's first)."""
    if context.ndim != 4 or context.shape[2:] != (model.pyramid.total, model.cfg.channels):
        raise UserError(f"context latents must be (batch, frames, {model.pyramid.total}, {model.cfg.channels}), got {context.shape}")
    batch, given = context.shape[:2]
    if frame_actions.ndim != 2 or frame_actions.shape[0] != batch or frame_actions.shape[1] <= given:
        raise UserError(f"frame_actions must be (batch {batch}, more than the {given} context frames), got {frame_actions.shape}")
    check_actions(model, frame_actions)
    total = frame_actions.shape[1]
    latents = np.zeros((batch, total, *context.shape[2:]), np.float32)
    latents[:, :given] = context
    out = Rollout(latents, given)
    generator = torch.Generator(device=model.device).manual_seed(seed)
    denoiser, pyramid = model.denoiser, model.pyramid
    started = time.perf_counter()
    for step in tqdm(model.strategy.plan(given, total - given), desc="rollout", unit="step", disable=not progress):
        tokens = collate([arrange(pyramid, latents[b], frame_actions[b], step) for b in range(batch)]).to(model.device)
        tokens = tokens.with_x(denoiser.normalise(tokens.x, tokens.level), tokens.sigma)
        split = int((~tokens.target[0]).sum())
        targets = tokens.take(slice(split, None))
        x = sample(denoiser, tokens.take(slice(0, split)), targets, sampler, generator)
        frames, index = pyramid.rows(step.targets)
        latents[:, frames, index] = denoiser.denormalise(x, targets.level).cpu().numpy()
        out.tokens_per_step.append(len(tokens))
    out.seconds = time.perf_counter() - started
    return out


@torch.no_grad()
def decode(model: WorldModel, latents: np.ndarray) -> np.ndarray:
    """(..., tokens, C) latents -> (..., H, W, 3) uint8 frames through the tokenizer's decoder."""
    if model.tokenizer is None:
        raise UserError("decoding frames needs the world model's tokenizer")
    flat = latents.reshape(-1, *latents.shape[-2:])
    offsets = model.pyramid.offsets
    images = []
    for start in range(0, len(flat), DECODE_CHUNK):
        chunk = torch.from_numpy(flat[start:start + DECODE_CHUNK]).float().to(model.device)
        levels = [chunk[:, offsets[k]:offsets[k + 1]] for k in range(len(offsets) - 1)]
        images.append(to_uint8(model.tokenizer.decode(levels).cpu()))
    frames = np.concatenate(images)
    return frames.reshape(*latents.shape[:-2], *frames.shape[1:])
