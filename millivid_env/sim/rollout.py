"""Rolling a world model forward: context latents plus one action per frame in, generated latents
(and decoded frames) out, under the model's strategy. Knows nothing of Gymnasium."""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm import tqdm

from millivid_env.errors import UserError
from millivid_env.models.dit import Tokens
from millivid_env.models.sampler import SamplerConfig, noised_context, sample, sample_cached
from millivid_env.models.tokenizer_training import to_uint8
from millivid_env.sim.tokens import arrange, collate
from millivid_env.sim.world_model import WorldModel
from millivid_env.strategies import Step

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
        raise UserError(f"action ids must be integers in [0, {model.cfg.actions}) ({model.cfg.actions} stands for none), "
                        f"got {frame_actions[bad][0]}")


def generate_step(model: WorldModel, latents: np.ndarray, frame_actions: np.ndarray, step: Step, sampler: SamplerConfig,
                  generator: torch.Generator) -> int:
    """Sample the step's targets for every world of the batch into `latents` (B, F, tokens, C), in
    place; returns the tokens in the step."""
    context, targets = step_tokens(model, latents, frame_actions, step)
    x = sample(model.denoiser, context, targets, sampler, generator)
    write_targets(model, latents, step, targets, x)
    return len(context) + len(targets)


def step_tokens(model: WorldModel, latents: np.ndarray, frame_actions: np.ndarray, step: Step) -> tuple[Tokens, Tokens]:
    """The step's context and target tokens for every world, normalised (frames relative to the first target)."""
    tokens = collate([arrange(model.pyramid, latents[b], frame_actions[b], step) for b in range(len(latents))]).to(model.device)
    tokens = tokens.with_x(model.denoiser.normalise(tokens.x, tokens.level), tokens.sigma)
    split = int((~tokens.target[0]).sum())
    return tokens.take(slice(0, split)), tokens.take(slice(split, None))


def write_targets(model: WorldModel, latents: np.ndarray, step: Step, targets: Tokens, x: torch.Tensor) -> None:
    frames, index = model.pyramid.rows(step.targets)
    latents[:, frames, index] = model.denoiser.denormalise(x, targets.level).cpu().numpy()


def rollout(model: WorldModel, context: np.ndarray, frame_actions: np.ndarray, sampler: SamplerConfig = SamplerConfig(),
            seed: int = 0, progress: bool = False) -> Rollout:
    """Generate frames after `context` (B, C0, tokens, C) latents. `frame_actions` (B, C0 + frames):
    the action id that led to each frame (the codec's `none` where none did, e.g. an episode's first)."""
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
    started = time.perf_counter()
    for step in tqdm(model.strategy.plan(given, total - given), desc="rollout", unit="step", disable=not progress):
        out.tokens_per_step.append(generate_step(model, latents, frame_actions, step, sampler, generator))
    out.seconds = time.perf_counter() - started
    return out


@torch.no_grad()
def decode_with_classes(model: WorldModel, latents: np.ndarray, classes: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """(..., tokens, C) latents -> (..., H, W, 3) uint8 frames through the tokenizer's decoder, and
    with `classes` its class head's block-id maps (..., H, W) (None when the tokenizer has no head)."""
    if model.tokenizer is None:
        raise UserError("decoding frames needs the world model's tokenizer")
    flat = latents.reshape(-1, *latents.shape[-2:])
    offsets, tokenizer = model.pyramid.offsets, model.tokenizer
    classes = classes and tokenizer.cfg.class_head
    images, maps = [], []
    for start in range(0, len(flat), DECODE_CHUNK):
        chunk = torch.from_numpy(flat[start:start + DECODE_CHUNK]).float().to(model.device)
        levels = [chunk[:, offsets[k]:offsets[k + 1]] for k in range(len(offsets) - 1)]
        if classes:
            decoded, logits = tokenizer.decoder(levels, classes=True)
            maps.append(tokenizer.decoder.classes.block_ids_of(logits).byte().cpu().numpy())
        else:
            decoded = tokenizer.decode(levels)
        images.append(to_uint8(decoded.cpu()))
    frames = np.concatenate(images).reshape(*latents.shape[:-2], *images[0].shape[1:])
    return frames, (np.concatenate(maps).reshape(*latents.shape[:-2], *maps[0].shape[1:]) if classes else None)


def decode(model: WorldModel, latents: np.ndarray) -> np.ndarray:
    """(..., tokens, C) latents -> (..., H, W, 3) uint8 frames through the tokenizer's decoder."""
    return decode_with_classes(model, latents, classes=False)[0]


CACHES = ("exact", "incremental")


class Stepper:
    """Frame-at-a-time generation for an interactive env: a batch of worlds, one action each per
    call, under a one-frame-per-step strategy (causal). Only the frames the strategy can still
    look at are kept, so memory stays bounded however long the episode runs.

    `cache="exact"` computes the context's keys and values afresh every frame, as the model was
    trained (context tokens attend to each other both ways). `cache="incremental"` computes the
    prompt's once, then only each new frame's, attending to what is cached but not attended back
    (frame-causal), and drops the tokens that leave the strategy's windows: a context pass of one
    frame's tokens instead of the whole window, at a quality cost `millivid bench sim` measures.
    """

    def __init__(self, model: WorldModel, sampler: SamplerConfig = SamplerConfig(), seed: int = 0, cache: str = "exact") -> None:
        if cache not in CACHES:
            raise UserError(f"cache must be one of {CACHES}, got {cache!r}")
        self.model, self.sampler, self.incremental = model, sampler, cache == "incremental"
        probe = model.strategy.plan(100_000, 1)[0]  # the farthest back a step looks, from deep in a rollout
        if len(np.unique(probe.targets[:, 0])) != 1:
            raise UserError(f"the {model.strategy.name} strategy does not make one frame a step; use causal")
        self.keep = 100_000 - probe.span[0] + 1
        self.generator = torch.Generator(device=model.device).manual_seed(seed)
        self.latents = np.zeros((0, 0, model.pyramid.total, model.cfg.channels), np.float32)
        self.frame_actions = np.zeros((0, 0), np.int64)
        self._forget()

    def _forget(self) -> None:
        """Drop the incremental cache: the next step computes the whole context's afresh."""
        self.origin = 0  # the episode frame that self.latents[:, 0] holds
        self._cache: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._rows = np.zeros((0, 2), np.int64)  # (episode frame, level) of every cached token

    def start(self, context: np.ndarray, frame_actions: np.ndarray) -> None:
        """Context latents (B, T, tokens, C) and the actions that led to each of their frames (B, T)."""
        if context.ndim != 4 or context.shape[2:] != (self.model.pyramid.total, self.model.cfg.channels) or not context.shape[1]:
            raise UserError(f"prompt latents must be (batch, frames >= 1, {self.model.pyramid.total}, "
                            f"{self.model.cfg.channels}), got {context.shape}")
        if frame_actions.shape != context.shape[:2]:
            raise UserError(f"prompt actions must be one per prompt frame {context.shape[:2]}, got {frame_actions.shape}")
        check_actions(self.model, frame_actions)
        self.latents = context[:, -self.keep:].astype(np.float32)
        self.frame_actions = frame_actions[:, -self.keep:].astype(np.int64)
        self._forget()

    def restart(self, world: int, context: np.ndarray, frame_actions: np.ndarray) -> None:
        """World `world` starts over from `context` (T, tokens, C) while the others go on. The batch
        shares one frame count, so a shorter context is led by its first frame held still (with no
        action, as an episode's first frame), a longer one keeps its latest frames."""
        check_actions(self.model, frame_actions[None])
        length = self.latents.shape[1]
        lead = max(0, length - len(context))
        self.latents[world] = np.concatenate([np.repeat(context[:1], lead, 0), context])[-length:]
        self.frame_actions[world] = np.concatenate([np.full(lead, self.model.cfg.codec.none), frame_actions])[-length:]
        self._cache = None  # the batch's cache is one tensor: every world's is computed afresh

    def step(self, actions: np.ndarray) -> np.ndarray:
        """The next frame's latents (B, tokens, C) of every world after its action."""
        actions = np.asarray(actions).reshape(-1)
        if len(actions) != len(self.latents) or not np.all((actions >= 0) & (actions < self.model.cfg.actions)):
            raise UserError(f"one action in [0, {self.model.cfg.actions}) per world ({len(self.latents)}), got {actions.tolist()}")
        latents = np.concatenate([self.latents, np.zeros_like(self.latents[:, :1])], 1)
        frame_actions = np.concatenate([self.frame_actions, actions[:, None].astype(np.int64)], 1)
        known = np.ones(latents.shape[1:2] + (len(self.model.pyramid.tokens),), bool)
        known[-1] = False
        step = self.model.strategy.next_step(known)
        if self.incremental:
            self._step_incremental(latents, frame_actions, step)
        else:
            generate_step(self.model, latents, frame_actions, step, self.sampler, self.generator)
        self.origin += max(0, latents.shape[1] - self.keep)
        self.latents, self.frame_actions = latents[:, -self.keep:], frame_actions[:, -self.keep:]
        return latents[:, -1]

    @torch.no_grad()
    def _step_incremental(self, latents: np.ndarray, frame_actions: np.ndarray, step: Step) -> None:
        wanted = step.context + np.array([self.origin, 0])
        if self._cache is not None:  # drop what left the windows; compute only what entered them
            kept = (self._rows[:, None] == wanted[None]).all(-1).any(1)
            self._cache = [(k[:, :, kept], v[:, :, kept]) for k, v in self._cache]
            self._rows = self._rows[kept]
            fresh = ~(wanted[:, None] == self._rows[None]).all(-1).any(1)
            step = Step(step.context[fresh], step.targets)
        context, targets = step_tokens(self.model, latents, frame_actions, step)
        # Frames in the episode's numbering, so cached keys keep their positions from step to step
        # (rotary attention sees only differences).
        first = self.origin + int(step.targets[:, 0].min())
        context, targets = replace(context, frame=context.frame + first), replace(targets, frame=targets.frame + first)
        pairs = np.stack([context.frame[0].long().cpu().numpy(), context.level[0].cpu().numpy()], 1)
        context = noised_context(context, self.sampler, self.generator)
        if self._cache is None:  # the prompt, or a restart: the whole context at once, as trained
            self._cache, context = self.model.denoiser.context_cache(context), None
        elif not len(context):
            context = None
        x, self._cache = sample_cached(self.model.denoiser, self._cache, targets, self.sampler, self.generator, new=context)
        self._rows = np.concatenate([self._rows, pairs])
        write_targets(self.model, latents, step, targets, x)
