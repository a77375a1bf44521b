"""The decoder's last step for voxel frames: colours formed the way the renderer forms them.

The voxel renderer paints a pixel as its block's palette colour times a light factor (face shade x
texel grain x (1 - fog)) plus fog x the horizon colour, or, for sky, a blend of the horizon and
zenith colours by how far up the ray points (world/raycast.py). With `output="palette"` the
decoder predicts exactly those quantities per pixel: class logits over the block table, the light
factor, the fog share and the sky blend; the colour is their render, averaged over the class
probabilities. A confident pixel then lands on its own class's colours instead of on a blend of
two classes, which the block-class colour lookup reads as a third (BENCHMARKS.md), and the logits
can be trained against the true block ids. It ties the tokenizer to the voxel world's block
table, so the checkpoint keeps the palette it was trained with; other data (imported videos)
uses `output="rgb"`.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from millivid_env.world import block_table
from millivid_env.world.raycast import SKY_HORIZON, SKY_ZENITH

MAX_LIGHT = 1.2  # the renderer's light factor tops out at 1.07 (top face, brightest texel)
SCALARS = 3  # light, fog, sky blend


def palette_classes() -> int:
    """Classes of the palette head: every block of the table, sky (id 0) included."""
    return len(block_table().blocks)


class PaletteRender(nn.Module):
    """(B, K + 3, H, W) head outputs -> (B, 3, H, W) colours and (B, K, H, W) class logits."""

    def __init__(self) -> None:
        super().__init__()
        table = block_table()
        ids = [b.id for b in table.blocks]
        if ids[0] != 0:
            raise ValueError("the block table must list sky (id 0) first")
        # Persistent: a checkpoint renders with the palette it was trained with.
        self.register_buffer("palette", torch.from_numpy(table.palette[ids]).float())
        self.register_buffer("horizon", torch.tensor(SKY_HORIZON).float())
        self.register_buffer("zenith", torch.tensor(SKY_ZENITH).float())
        index = np.full(256, -100, np.int64)  # -100: cross-entropy's ignore index for ids not in the table
        index[ids] = np.arange(len(ids))
        self.register_buffer("class_index", torch.from_numpy(index), persistent=False)

    def classes_of(self, block_id: torch.Tensor) -> torch.Tensor:
        """(B, H, W) block ids -> (B, H, W) indices of the head's classes."""
        return self.class_index[block_id.long()]

    def forward(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = len(self.palette)
        logits, scalars = out[:, :k], torch.sigmoid(out[:, k:])
        light, fog, up = MAX_LIGHT * scalars[:, :1], scalars[:, 1:2], scalars[:, 2:3]
        probs = logits.softmax(1)
        sky, solid = probs[:, :1], probs[:, 1:]
        block_colour = light * torch.einsum("bkhw,kc->bchw", solid, self.palette[1:])
        fogged = (1 - sky) * fog * self.horizon.view(1, 3, 1, 1)
        sky_colour = sky * (self.horizon.view(1, 3, 1, 1) + up * (self.zenith - self.horizon).view(1, 3, 1, 1))
        return block_colour + fogged + sky_colour, logits
