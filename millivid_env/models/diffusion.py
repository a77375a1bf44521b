"""EDM diffusion maths over normalised latent tokens (DIAMOND's recipe): preconditioning with
per-token noise levels, log-normal training noise, and noise on the context against drift.

Latents are normalised per level and channel before diffusion (their scale differs by level:
finest ~0.2 std, coarsest ~1), so sigma_data is 1 at every level; the statistics travel with the
weights as buffers.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from millivid_env.models.dit import DiT, DiTConfig, Tokens

SIGMA_DATA = 1.0


@dataclass(frozen=True)
class NoiseConfig:
    train_mean: float = -0.4  # mean of log sigma for the generated tokens in training (EDM's P_mean)
    train_std: float = 1.2  # its standard deviation (EDM's P_std)
    context_noise: float = 0.7  # context tokens train with a sigma drawn uniformly below this, embedded per token


def preconditioning(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """c_in, c_skip, c_out of EDM, each (..., 1) to broadcast over channels."""
    sigma = sigma.unsqueeze(-1)
    total = sigma ** 2 + SIGMA_DATA ** 2
    return total.rsqrt(), SIGMA_DATA ** 2 / total, sigma * SIGMA_DATA * total.rsqrt()


class Denoiser(nn.Module):
    """DiT + preconditioning + the latents' per-level statistics."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        self.net = DiT(cfg)
        self.register_buffer("mean", torch.zeros(cfg.levels, cfg.channels))
        self.register_buffer("std", torch.ones(cfg.levels, cfg.channels))

    def normalise(self, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        return (x - self.mean[level]) / self.std[level]

    def denormalise(self, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        return x * self.std[level] + self.mean[level]

    def raw(self, sigma: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
        return preconditioning(sigma)[0] * noisy

    def forward(self, t: Tokens) -> torch.Tensor:
        """Denoised estimate of every token of `t` (t.x noisy at t.sigma, normalised)."""
        _, skip, out = preconditioning(t.sigma)
        return skip * t.x + out * self.net(t, self.raw(t.sigma, t.x))

    def context_cache(self, context: Tokens) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return self.net.context_cache(context, self.raw(context.sigma, context.x))

    def extend_cache_and_denoise(self, new: Tokens, targets: Tokens, cache: list[tuple[torch.Tensor, torch.Tensor]]
                                 ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
        """The new context tokens' keys and values (`DiT.extend_and_forward`) and the targets'
        denoised estimate, seeing the cache and the new tokens, in one pass."""
        both = new.then(targets)
        own, out = self.net.extend_and_forward(both, self.raw(both.sigma, both.x), len(new), cache)
        _, skip, scale = preconditioning(targets.sigma)
        return own, skip * targets.x + scale * out

    def denoise_targets(self, targets: Tokens, cache: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        _, skip, out = preconditioning(targets.sigma)
        return skip * targets.x + out * self.net.forward_targets(targets, self.raw(targets.sigma, targets.x), cache)


def diffusion_loss(net: nn.Module, clean: Tokens, noise: NoiseConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """EDM's weighted denoising loss on the targets of `clean` (normalised); the context is noised
    too, each sample at its own level. `net` is a Denoiser, or one wrapped for DDP."""
    batch = clean.x.shape[0]
    target_sigma = torch.exp(noise.train_mean + noise.train_std * torch.randn(batch, 1, device=clean.x.device))
    context_sigma = noise.context_noise * torch.rand(batch, 1, device=clean.x.device)
    sigma = torch.where(clean.target, target_sigma, context_sigma)
    noisy = clean.with_x(clean.x + sigma.unsqueeze(-1) * torch.randn_like(clean.x), sigma)
    weight = (sigma ** 2 + SIGMA_DATA ** 2) / (sigma * SIGMA_DATA) ** 2
    error = weight * ((net(noisy) - clean.x) ** 2).mean(-1)
    scored = (clean.target & clean.valid).float()
    per_level = {f"L{k}": ((error * scored * (clean.level == k)).sum() / (scored * (clean.level == k)).sum().clamp_min(1)).detach()
                 for k in range(int(clean.level.max()) + 1)}
    return (error * scored).sum() / scored.sum(), per_level
