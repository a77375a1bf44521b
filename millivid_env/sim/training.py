"""Training the denoiser on arrangements drawn from its strategy's own plans.

Each item is one generation step of a planned rollout, placed at a random point of a random
encoded episode: its context tokens clean (then noised by the loss), its targets to denoise.
Steps are drawn so that every kind of step (for MilliVid, every target level) and every planned
context length is equally likely, however many steps of each a rollout has.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from millivid_env.envs.action_codec import ActionCodec
from millivid_env.errors import UserError
from millivid_env.models.diffusion import Denoiser, NoiseConfig, diffusion_loss
from millivid_env.models.dit import Tokens
from millivid_env.record import layout
from millivid_env.sim.episodes import EncodedEpisode
from millivid_env.sim.tokens import Pyramid, arrange, collate
from millivid_env.strategies import Step, Strategy

VALIDATION_ITEMS = 16
VALIDATION_SIGMAS = (0.1, 0.5, 2.0)


def dataset_codec(root: Path) -> ActionCodec:
    """How the dataset's actions become the ids a simulator trained on it conditions on."""
    try:
        return ActionCodec.for_space(str(layout.read_metadata(root).get("action_space", "")))
    except UserError as e:
        raise UserError(f"{root}: {e}") from None


class Arrangements:
    """Endless batches of training arrangements (Tokens, clean and unnormalised)."""

    def __init__(self, episodes: list[EncodedEpisode], strategy: Strategy, pyramid: Pyramid,
                 contexts: tuple[int, ...], batch: int, seed: int) -> None:
        self.episodes, self.pyramid, self.batch = episodes, pyramid, batch
        self.lengths = np.array([len(e.latents) for e in episodes])
        longest = int(self.lengths.max())
        if longest < 2:
            raise UserError("episodes need at least 2 frames to train on")
        self.steps: list[Step] = []
        weights = []
        plans = [strategy.plan(c, longest - c) for c in sorted({min(c, longest - 1) for c in contexts})]
        for plan in plans:
            kinds = [tuple(np.unique(s.targets[:, 1])) for s in plan]
            counts = Counter(kinds)
            self.steps += plan
            weights += [1.0 / (counts[k] * len(counts) * len(plans)) for k in kinds]
        self.spans = np.array([s.span for s in self.steps])
        self.p = np.asarray(weights) / np.sum(weights)
        self.rng = np.random.default_rng(seed)

    def item(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        while True:
            index = rng.choice(len(self.steps), p=self.p)
            lo, hi = self.spans[index]
            fits = np.flatnonzero(self.lengths > hi - lo)
            if len(fits):
                break
        episode = self.episodes[rng.choice(fits)]
        origin = int(rng.integers(-lo, len(episode.latents) - hi))  # the whole step shifted inside the episode
        return arrange(self.pyramid, episode.latents, episode.frame_actions, self.steps[index], origin)

    def __iter__(self) -> Iterator[Tokens]:
        return self

    def __next__(self) -> Tokens:
        return collate([self.item(self.rng) for _ in range(self.batch)])

    def fixed(self, count: int, seed: int) -> Tokens:
        """The same `count` arrangements every call (validation)."""
        rng = np.random.default_rng(seed)
        return collate([self.item(rng) for _ in range(count)])


def normalised(model: Denoiser, clean: Tokens) -> Tokens:
    return clean.with_x(model.normalise(clean.x, clean.level), clean.sigma)


def sim_loss(net: torch.nn.Module, batch: Tokens, noise: NoiseConfig, device: torch.device) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model = net.module if isinstance(net, torch.nn.parallel.DistributedDataParallel) else net
    return diffusion_loss(net, normalised(model, batch.to(device)), noise)


@torch.no_grad()
def validation_loss(model: Denoiser, clean: Tokens) -> dict[str, float]:
    """Weighted denoising error of the targets at fixed noise levels, clean context, fixed noise."""
    clean = normalised(model, clean.to(model.mean.device))
    generator = torch.Generator(device=clean.x.device).manual_seed(0)
    scored = (clean.target & clean.valid).float()
    figures = {}
    for sigma in VALIDATION_SIGMAS:
        level = torch.where(clean.target, torch.full_like(clean.sigma, sigma), torch.zeros_like(clean.sigma))
        noise = torch.randn(clean.x.shape, generator=generator, device=clean.x.device)
        noisy = clean.with_x(clean.x + level.unsqueeze(-1) * noise, level)
        error = ((model(noisy) - clean.x) ** 2).mean(-1)
        figures[f"mse@{sigma:g}"] = float((error * scored).sum() / scored.sum())
    return figures


def fit_normalisation(model: Denoiser, episodes: list[EncodedEpisode], pyramid: Pyramid, frames: int = 4096) -> None:
    """Per level and channel mean and std of the latents, from evenly spread frames."""
    stacked = np.concatenate([e.latents for e in episodes])
    picks = np.linspace(0, len(stacked) - 1, min(frames, len(stacked))).astype(int)
    sample = stacked[picks].astype(np.float64)
    for k in range(len(pyramid.tokens)):
        level = sample[:, pyramid.offsets[k]:pyramid.offsets[k + 1]].reshape(-1, sample.shape[-1])
        model.mean[k] = torch.from_numpy(level.mean(0)).float()
        model.std[k] = torch.from_numpy(level.std(0).clip(1e-3)).float()
