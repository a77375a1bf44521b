"""One sampler for every strategy: Euler steps down a Karras noise schedule, the context's keys and
values computed once per generation step and reused at every iteration."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from millivid_env.errors import UserError
from millivid_env.models.diffusion import Denoiser
from millivid_env.models.dit import Tokens


@dataclass(frozen=True)
class SamplerConfig:
    steps: int = 3  # denoising iterations per generation step
    sigma_min: float = 0.002  # last noise level before the final clean estimate
    sigma_max: float = 5.0  # starting noise level
    rho: float = 7.0  # Karras schedule curvature
    context_sigma: float = 0.0  # noise added to the context (embedded as its level), against drift

    def __post_init__(self) -> None:
        if self.steps < 1 or not 0 < self.sigma_min < self.sigma_max or self.context_sigma < 0:
            raise UserError(f"sampler needs steps >= 1, 0 < sigma_min < sigma_max and context_sigma >= 0, got {self}")


def karras_sigmas(cfg: SamplerConfig) -> torch.Tensor:
    """steps + 1 noise levels from sigma_max down to sigma_min, then 0."""
    ramp = torch.linspace(0, 1, cfg.steps) if cfg.steps > 1 else torch.zeros(1)
    lo, hi = cfg.sigma_min ** (1 / cfg.rho), cfg.sigma_max ** (1 / cfg.rho)
    return torch.cat([(hi + ramp * (lo - hi)) ** cfg.rho, torch.zeros(1)])


@torch.no_grad()
def sample(denoiser: Denoiser, context: Tokens, targets: Tokens, cfg: SamplerConfig,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Clean (B, T, C) target latents (normalised) given clean `context` tokens; targets.x is ignored."""
    return sample_cached(denoiser, denoiser.context_cache(noised_context(context, cfg, generator)), targets, cfg, generator)[0]


def noised_context(context: Tokens, cfg: SamplerConfig, generator: torch.Generator | None = None) -> Tokens:
    """The context as the sampler shows it: noised to `cfg.context_sigma` (and embedded at it), if any."""
    if not cfg.context_sigma:
        return context
    noise = torch.randn(context.x.shape, generator=generator, device=context.x.device)
    return context.with_x(context.x + cfg.context_sigma * noise, torch.full_like(context.sigma, cfg.context_sigma))


Cache = list[tuple[torch.Tensor, torch.Tensor]]


@torch.no_grad()
def sample_cached(denoiser: Denoiser, cache: Cache, targets: Tokens, cfg: SamplerConfig,
                  generator: torch.Generator | None = None, new: Tokens | None = None) -> tuple[torch.Tensor, Cache]:
    """`sample` from the context's keys and values (`Denoiser.context_cache`) computed beforehand.
    `new` context tokens join the cache frame-causally in the first iteration's pass
    (`Denoiser.extend_cache_and_denoise`). Returns the targets and the cache as it ends."""
    sigmas = karras_sigmas(cfg).tolist()
    x = sigmas[0] * torch.randn(targets.x.shape, generator=generator, device=targets.x.device)
    for sigma, following in zip(sigmas[:-1], sigmas[1:]):
        noisy = targets.with_x(x, torch.full_like(targets.sigma, sigma))
        if new is not None:
            own, denoised = denoiser.extend_cache_and_denoise(new, noisy, cache)
            cache = [(torch.cat([k, nk], 2), torch.cat([v, nv], 2)) for (k, v), (nk, nv) in zip(cache, own)]
            new = None
        else:
            denoised = denoiser.denoise_targets(noisy, cache)
        x = denoised if following == 0 else x + (x - denoised) / sigma * (following - sigma)
    return x, cache
