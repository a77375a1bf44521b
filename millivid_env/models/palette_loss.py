"""The block-class colour lookup made differentiable, as a training loss for the tokenizer.

Block mIoU is read off a reconstruction by a colour-to-class lookup (metrics/semantic.py). Several
classes sit a few colour levels apart under face shading (dirt and log, snow in shade and stone,
grass and lime), so a reconstruction 30 dB away from the truth can cross into another class's
colours where L2 barely notices. This loss is the lookup's class log-probabilities, interpolated
trilinearly between colour bins at the reconstructed colour and scored with cross-entropy against
the true block class on the pixels the lookup reads wrong: it pulls a colour back inside its own
class's bins and leaves it alone once there. The votes are not smoothed over neighbouring bins:
that lets common classes spill into the bins of rare ones, which is where the lookup's false
positives come from. It trades PSNR for mIoU (BENCHMARKS.md), so the default weight is 0.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from millivid_env.data.windows import WindowDataset
from millivid_env.metrics.semantic import BINS, SHIFT, PaletteClassifier, flat_bin
from millivid_env.record import layout
from millivid_env.world import block_table


def fitted_palette(root: Path, frames: int = 2048, split: str = "train", seed: int = 0) -> PaletteClassifier | None:
    """The colour lookup with the votes of `frames` random frames of a dataset split; None when
    the split is empty or its episodes carry no block ids (imported videos)."""
    windows = WindowDataset(root, 1, split=split, fields=("rgb", layout.BLOCK_ID))
    if len(windows) == 0:
        return None
    picked = windows.frames(np.random.default_rng(seed).choice(len(windows), size=min(frames, len(windows)), replace=False))
    if layout.BLOCK_ID not in picked:
        return None
    return PaletteClassifier().fit(picked["rgb"], picked[layout.BLOCK_ID])


class PaletteLoss(nn.Module):
    """The loss for one fitted colour lookup; `prior` is the vote every class gets in every bin,
    so that an empty bin has a finite log-probability."""

    def __init__(self, palette: PaletteClassifier, prior: float = 1e-3) -> None:
        super().__init__()
        ids = [b.id for b in block_table().blocks]
        votes = torch.from_numpy(palette.votes[:, ids].T.astype(np.float32)).reshape(len(ids), BINS, BINS, BINS)
        probs = (votes + prior) / (votes.sum(0, keepdim=True) + prior * len(ids))
        self.register_buffer("log_probs", probs.log(), persistent=False)  # (K, r, g, b), normalised over K
        channel = torch.full((256,), -1, dtype=torch.long)
        channel[ids] = torch.arange(len(ids))
        self.register_buffer("channel", channel, persistent=False)
        self.register_buffer("table", torch.from_numpy(palette.table.astype(np.int64)), persistent=False)

    def log_prob(self, images: torch.Tensor, block_id: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) colours in [0, 1] and (B, H, W) block ids -> (B, H, W) log-probability of
        each pixel's own class at its colour, interpolated trilinearly between colour bins.
        Only the true class's value is read (8 gathers): 5x faster forward and backward than
        interpolating all K classes (21 vs 106 ms for a batch of 32 on two CPU threads)."""
        # Bin k of a channel holds uint8 values 8k..8k+7: bin coordinate k falls on value 8k + 3.5.
        pos = ((images.clamp(0, 1) * 255 + 0.5) / (1 << SHIFT) - 0.5).clamp(0, BINS - 1)
        low = pos.detach().floor().clamp(max=BINS - 2)
        frac = pos - low
        low = low.long()
        base = self.channel[block_id.long()].clamp(min=0) * BINS**3
        out = torch.zeros_like(frac[:, 0])
        for corner in range(8):
            step = [(corner >> axis) & 1 for axis in (2, 1, 0)]
            index = base + flat_bin(low[:, 0] + step[0], low[:, 1] + step[1], low[:, 2] + step[2])
            share = torch.ones_like(out)
            for axis in range(3):
                share = share * (frac[:, axis] if step[axis] else 1 - frac[:, axis])
            out = out + share * self.log_probs.take(index)
        return out

    def lookup(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) colours in [0, 1] -> (B, H, W) block ids, as the metric's lookup reads them."""
        bins = (images.detach().clamp(0, 1) * 255 + 0.5).long() >> SHIFT
        return self.table[flat_bin(bins[:, 0], bins[:, 1], bins[:, 2])]

    def forward(self, recon: torch.Tensor, images: torch.Tensor, block_id: torch.Tensor,
                weight: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy of the reconstruction's colours against the true block ids, on the pixels
        the lookup reads wrong, averaged over the pixels whose true colour it reads right (the
        others no reconstruction can get right), weighted by `weight` (B, 1, H, W). A pixel read
        right costs nothing: between bin centres the interpolated log-probability also counts
        neighbouring bins, and minimising it there would pull true colours off to bin centres."""
        block_id = block_id.long()
        weight = (torch.ones_like(recon[:, 0]) if weight is None else weight[:, 0]) * (self.lookup(images) == block_id)
        wrong = weight * (self.lookup(recon) != block_id)
        return -(wrong * self.log_prob(recon, block_id)).sum() / weight.sum().clamp(min=1)
