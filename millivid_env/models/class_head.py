"""A block-class read-out beside the decoder's colours: per-pixel logits over the block table.

The bench reads block classes off a reconstruction with a colour lookup (metrics/semantic.py),
which loses classes to colour error: shaded colours of different classes lie a few levels apart.
The class head reads them from the decoder's features instead, so what the tokens keep of the
scene's semantics is measured without the lookup (the two are reported side by side), and a world
model decoding its own tokens gets a class map with every frame. It reads the full-resolution
features through a 3x3 convolution and, with `class_scales` > 1, the coarser stages' wider features
through 1x1 convolutions upsampled onto it: the full-resolution features are 16 numbers a pixel
shaped for colour, and the coarser ones hold what a pixel's surroundings say about its class
(BENCHMARKS.md). It is trained with cross-entropy against the true block ids, with the rest of the
tokenizer or on its frozen features, and does not touch the colours' path. The checkpoint keeps
the block ids its classes stand for.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from millivid_env.world import block_table

IGNORE = -100  # cross-entropy's ignore index: block ids the head has no class for


class ClassHead(nn.Module):
    def __init__(self, widths: Sequence[int]) -> None:
        """`widths`: of the decoder features the head reads, coarsest first, full resolution last."""
        super().__init__()
        ids = [b.id for b in block_table().blocks]
        self.conv = nn.Conv2d(widths[-1], len(ids), 3, padding=1)
        self.coarse = nn.ModuleList(nn.Conv2d(w, len(ids), 1) for w in widths[:-1])  # empty: the one-scale head's names
        self.register_buffer("block_ids", torch.tensor(ids, dtype=torch.long))  # persistent: the checkpoint's classes
        index = np.full(256, IGNORE, np.int64)
        index[ids] = np.arange(len(ids))
        self.register_buffer("class_index", torch.from_numpy(index), persistent=False)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Decoder features (B, width_i, H_i, W_i), coarsest first -> (B, K, H, W) class logits."""
        logits = self.conv(features[-1])
        for conv, x in zip(self.coarse, features[:-1]):
            logits = logits + F.interpolate(conv(x), size=logits.shape[-2:], mode="bilinear", align_corners=False)
        return logits

    def classes_of(self, block_id: torch.Tensor) -> torch.Tensor:
        """(B, H, W) block ids -> (B, H, W) class indices (IGNORE for ids without a class)."""
        return self.class_index[block_id.long()]

    def block_ids_of(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, K, H, W) logits -> (B, H, W) block ids of the most likely classes."""
        return self.block_ids[logits.argmax(1)]
