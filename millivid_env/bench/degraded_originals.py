"""What block mIoU a PSNR buys: the held-out originals degraded to a given PSNR and read by the
same colour lookup as the reconstructions.

The lookup tells classes apart by exact colour (shaded lime sits a few levels from grass), so its
mIoU falls fast with any colour error. Two degradations bracket a reconstruction's errors: colour
noise (error on every pixel) and blur (error only at edges, as a smooth decoder makes).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from millivid_env.metrics.psnr import psnr
from millivid_env.metrics.semantic import PaletteClassifier, semantic_scores
from millivid_env.models.tokenizer_training import to_images, to_uint8

PSNRS = (30.0, 36.0, 42.0)  # the tokenizer's target, and two steps above it


def blur(images: torch.Tensor, strength: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, 3, H, W), sigma `strength` pixels, edges replicated."""
    radius = max(1, int(np.ceil(3 * strength)))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1.0) / strength) ** 2)
    taps = (taps / taps.sum()).repeat(3, 1, 1, 1)  # (3, 1, 1, K): one kernel per colour channel
    padded = F.pad(images, (radius,) * 4, mode="replicate")
    return F.conv2d(F.conv2d(padded, taps, groups=3), taps.transpose(2, 3), groups=3)


Degradation = Callable[[torch.Tensor, float], torch.Tensor]


def strength_for(degrade: Degradation, images: torch.Tensor, target: float, steps: int = 16) -> float:
    """The strength (noise sigma in levels, blur sigma in pixels) that puts the mean per-frame PSNR,
    as the bench scores reconstructions, at `target` dB: bisection in log strength."""
    low, high = np.log(0.05), np.log(64.0)
    for _ in range(steps):
        mid = (low + high) / 2
        reached = psnr(degrade(images, float(np.exp(mid))), images).mean().item()
        low, high = (mid, high) if reached > target else (low, mid)
    return float(np.exp((low + high) / 2))


def degraded_scores(rgb: np.ndarray, truth: np.ndarray, mask: np.ndarray | None, palette: PaletteClassifier,
                    psnrs: tuple[float, ...] = PSNRS, seed: int = 0) -> list[dict[str, Any]]:
    """One row per degradation kind and PSNR: the strength used, the PSNR reached and the lookup's
    "miou" and "landmark_iou" on the degraded frames (rounded to bytes, as reconstructions are)."""
    images = to_images(torch.from_numpy(rgb))
    unit_noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    kinds: dict[str, Degradation] = {"noise": lambda x, strength: x + strength / 255 * unit_noise, "blur": blur}
    rows = []
    for kind, degrade in kinds.items():
        for target in psnrs:
            strength = strength_for(degrade, images, target)
            degraded = degrade(images, strength).clamp(0, 1)
            scores = semantic_scores(palette(to_uint8(degraded)), truth, mask)
            rows.append({"kind": kind, "strength": strength, "psnr": psnr(degraded, images).mean().item(),
                         "miou": scores["miou"], "landmark_iou": scores["landmark_iou"]})
    return rows
