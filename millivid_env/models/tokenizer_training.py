"""Training the tokenizer: frames from a dataset, random coarse prefixes, image-pyramid L2 + SSIM."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from millivid_env.data.windows import WindowDataset
from millivid_env.errors import UserError
from millivid_env.metrics.psnr import psnr
from millivid_env.metrics.ssim import ssim
from millivid_env.models.tokenizer import Tokenizer, TokenizerConfig

FRAMES_PER_READ = 4  # consecutive frames per random read: 4x fewer reads, little correlation in a batch


def to_images(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (N, 3, H, W) in [0, 1]."""
    return rgb.reshape(-1, *rgb.shape[-3:]).permute(0, 3, 1, 2).float().div(255)


def frame_batches(root: Path, batch: int, split: str, seed: int, device: torch.device) -> Iterator[torch.Tensor]:
    """Endless random batches (B, 3, H, W) of frames from the `split` episodes of a dataset."""
    windows = WindowDataset(root, FRAMES_PER_READ, split=split, fields=("rgb",))
    if len(windows) == 0:
        raise UserError(f"{root}: no {split} frames to train on (collect more episodes)")
    rng = np.random.default_rng(seed)
    while True:
        reads = [windows[int(i)]["rgb"] for i in rng.integers(len(windows), size=-(-batch // FRAMES_PER_READ))]
        yield to_images(torch.stack(reads))[:batch].to(device)


def pyramid_l2(pred: torch.Tensor, target: torch.Tensor, scales: int) -> torch.Tensor:
    """L2 over an image pyramid, each scale's summed error weighted by 4^scale (its pixels are 4x
    fewer), i.e. every scale's mean squared error counts the same: coarse layout is not drowned
    out by fine texture."""
    total = pred.new_zeros(())
    for scale in range(scales):
        total = total + F.mse_loss(pred, target)
        pred, target = F.avg_pool2d(pred, 2), F.avg_pool2d(target, 2)
    return total / scales


def tokenizer_loss(net: torch.nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Each sample keeps a random number of coarse levels (1..L): every prefix learns to decode."""
    cfg: TokenizerConfig = (net.module if hasattr(net, "module") else net).cfg
    keep = torch.randint(1, cfg.levels + 1, (images.shape[0],), device=images.device)
    recon = net(images, keep)
    l2 = pyramid_l2(recon, images, cfg.image_levels)
    structure = 1 - ssim(recon.clamp(0, 1), images).mean()
    return l2 + cfg.ssim_weight * structure, {"l2": l2.item(), "ssim": 1 - structure.item()}


@torch.no_grad()
def prefix_psnr(model: Tokenizer, images: torch.Tensor, chunk: int = 128) -> dict[str, float]:
    """Mean PSNR decoding from each coarse prefix (keep = 1..L levels)."""
    scores = {}
    latents = [torch.cat(z) for z in zip(*(model.encode(images[i:i + chunk]) for i in range(0, len(images), chunk)))]
    for keep in range(1, model.cfg.levels + 1):
        recon = torch.cat([model.decode([z[i:i + chunk] for z in latents], keep) for i in range(0, len(images), chunk)])
        scores[f"psnr_keep{keep}"] = psnr(recon, images).mean().item()
    return scores
