"""Training the tokenizer: frames from a dataset, random coarse prefixes, image-pyramid L2 + SSIM."""
from __future__ import annotations

import functools
import itertools
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from millivid_env.data.frames import FramesInMemory
from millivid_env.data.windows import WindowDataset, no_frames
from millivid_env.metrics.psnr import psnr
from millivid_env.metrics.ssim import ssim
from millivid_env.models.palette_loss import PaletteLoss
from millivid_env.models.tokenizer import Tokenizer, TokenizerConfig
from millivid_env.record import layout

FRAMES_PER_READ = 4  # consecutive frames per random read: 4x fewer reads, little correlation in a batch


def to_images(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (N, 3, H, W) in [0, 1]."""
    return rgb.reshape(-1, *rgb.shape[-3:]).permute(0, 3, 1, 2).float().div(255)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float (N, 3, H, W), clipped to [0, 1] -> uint8 (N, H, W, 3), rounded: the inverse of to_images."""
    return (images.clamp(0, 1) * 255 + 0.5).byte().permute(0, 2, 3, 1).numpy()


def frame_batches(root: Path, batch: int, split: str, seed: int, device: torch.device,
                  explorers: tuple[str, ...] = (), in_memory: bool = False,
                  start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """Endless random batches from the `split` episodes of a dataset (those of `explorers` if given):
    {"images": (B, 3, H, W)} and, where the dataset records it, {"block_id": (B, H, W)} for the
    class-balanced loss. `in_memory` decodes the split into RAM first and draws every frame of a
    batch independently; from disk a batch is runs of FRAMES_PER_READ consecutive frames. A run
    resumed at step `start` draws a new stream instead of replaying the batches it began with."""
    rng = np.random.default_rng((seed, start) if start else seed)
    if in_memory:
        frames = FramesInMemory(root, split, explorers)
        draw = functools.partial(frames.sample, rng, batch)
    else:
        windows = WindowDataset(root, FRAMES_PER_READ, split=split, fields=("rgb", layout.BLOCK_ID), explorers=explorers)
        if len(windows) == 0:
            raise no_frames(root, split, explorers)
        draw = functools.partial(streamed, windows, rng, batch)
    return (as_batch(draw(), device) for _ in itertools.count())


def as_batch(draw: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    out = {"images": to_images(torch.from_numpy(draw[layout.RGB])).to(device)}
    if layout.BLOCK_ID in draw:
        out["block_id"] = torch.from_numpy(draw[layout.BLOCK_ID]).to(device)
    return out


def streamed(windows: WindowDataset, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """`batch` frames read from disk as random runs of consecutive frames."""
    reads = [windows[int(i)] for i in rng.integers(len(windows), size=-(-batch // FRAMES_PER_READ))]
    draw = {layout.RGB: np.concatenate([r["rgb"].numpy() for r in reads])[:batch]}
    if layout.BLOCK_ID in reads[0]:
        draw[layout.BLOCK_ID] = np.concatenate([r[layout.BLOCK_ID].numpy() for r in reads])[:batch]
    return draw


def class_balance_weights(block_id: torch.Tensor, power: float, cap: float = 10.0) -> torch.Tensor:
    """Per-pixel loss weights (B, 1, H, W), mean 1: a class with n pixels in the batch weighs
    n^-power per pixel, so rare classes (a distant landmark, a patch of snow) are not drowned by
    grass and sky; the block mIoU counts every class the same. Capped at `cap` x the mean."""
    counts = torch.bincount(block_id.flatten().long(), minlength=256).float().clamp(min=1)
    weights = counts.pow(-power)[block_id.long()]
    return (weights / weights.mean()).clamp(max=cap).unsqueeze(1)


def pyramid_l2(pred: torch.Tensor, target: torch.Tensor, scales: int, weight: torch.Tensor | None = None) -> torch.Tensor:
    """L2 over an image pyramid, each scale's summed error weighted by 4^scale (its pixels are 4x
    fewer), i.e. every scale's mean squared error counts the same: coarse layout is not drowned
    out by fine texture. `weight` (B, 1, H, W) weighs pixels, pooled along with the images."""
    weight = torch.ones_like(pred[:, :1]) if weight is None else weight
    total = pred.new_zeros(())
    for scale in range(scales):
        total = total + (weight * (pred - target).square()).mean()
        pred, target, weight = (F.avg_pool2d(x, 2) for x in (pred, target, weight))
    return total / scales


def random_prefixes(cfg: TokenizerConfig, n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """How many coarse levels each of n samples keeps: uniform over 1..L, except a `keep_all` share
    that keeps all L (the finest level is otherwise trained by only 1/L of a batch)."""
    keep = torch.randint(1, cfg.levels + 1, (n,), device=device)
    return torch.where(torch.rand(n, device=device) < cfg.keep_all, cfg.levels, keep)


def tokenizer_loss(net: torch.nn.Module, batch: dict[str, torch.Tensor],
                   palette: PaletteLoss | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Each sample keeps a random number of coarse levels (1..L): every prefix learns to decode.
    With a `palette` loss and block ids, colours are also pulled inside their block class; with a
    class head's `class_weight`, its logits are trained against the block ids."""
    model: Tokenizer = net.module if hasattr(net, "module") else net
    cfg = model.cfg
    images = batch["images"]
    keep = random_prefixes(cfg, images.shape[0], images.device)
    with_classes = bool(cfg.class_weight) and "block_id" in batch
    recon, logits = net(images, keep, classes=True) if with_classes else (net(images, keep), None)
    weight = class_balance_weights(batch["block_id"], cfg.class_balance) if cfg.class_balance and "block_id" in batch else None
    l2 = pyramid_l2(recon, images, cfg.image_levels, weight)
    structure = 1 - ssim(recon.clamp(0, 1), images).mean()
    loss, logs = l2 + cfg.ssim_weight * structure, {"l2": l2.detach(), "ssim": 1 - structure.detach()}
    if logits is not None:
        per_pixel = F.cross_entropy(logits, model.decoder.classes.classes_of(batch["block_id"]), reduction="none")
        ce = (per_pixel * (1 if weight is None else weight[:, 0])).mean()
        loss, logs["ce"] = loss + cfg.class_weight * ce, ce.detach()
    if palette is not None and cfg.palette_weight and "block_id" in batch:
        colour = palette(recon, images, batch["block_id"], weight)
        loss, logs["palette"] = loss + cfg.palette_weight * colour, colour.detach()
    return loss, logs


@torch.no_grad()
def decoded_prefixes(model: Tokenizer, images: torch.Tensor, classes: bool = False,
                     chunk: int = 128) -> Iterator[tuple[int, torch.Tensor, torch.Tensor | None]]:
    """(keep, reconstructions, class logits or None) decoding images (N, 3, H, W) from each coarse
    prefix, keep = 1..L levels; encoded once, both passes `chunk` images at a time to bound memory."""
    starts = range(0, len(images), chunk)
    latents = [torch.cat(z) for z in zip(*(model.encode(images[i:i + chunk]) for i in starts))]
    for keep in range(1, model.cfg.levels + 1):
        outputs = [model.decoder([z[i:i + chunk] for z in latents], keep, classes=classes) for i in starts]
        if classes:
            yield keep, torch.cat([o[0] for o in outputs]), torch.cat([o[1] for o in outputs])
        else:
            yield keep, torch.cat(outputs), None


def prefix_psnr(model: Tokenizer, images: torch.Tensor) -> dict[str, float]:
    """Mean PSNR decoding from each coarse prefix (keep = 1..L levels)."""
    return {f"psnr_keep{keep}": psnr(recon, images).mean().item() for keep, recon, _ in decoded_prefixes(model, images)}
