"""A block-class read-out beside the decoder's colours: per-pixel logits over the block table.

The bench reads block classes off a reconstruction with a colour lookup (metrics/semantic.py),
which loses classes to colour error: shaded colours of different classes lie a few levels apart.
The class head reads them from the decoder's last features instead, so what the tokens keep of
the scene's semantics is measured without the lookup (the two are reported side by side), and a
world model decoding its own tokens gets a class map with every frame. It is trained with
cross-entropy against the true block ids and does not touch the colours' path. The checkpoint
keeps the block ids its classes stand for.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from millivid_env.world import block_table

IGNORE = -100  # cross-entropy's ignore index: block ids the head has no class for


class ClassHead(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        ids = [b.id for b in block_table().blocks]
        self.conv = nn.Conv2d(width, len(ids), 3, padding=1)
        self.register_buffer("block_ids", torch.tensor(ids, dtype=torch.long))  # persistent: the checkpoint's classes
        index = np.full(256, IGNORE, np.int64)
        index[ids] = np.arange(len(ids))
        self.register_buffer("class_index", torch.from_numpy(index), persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, width, H, W) decoder features -> (B, K, H, W) class logits."""
        return self.conv(features)

    def classes_of(self, block_id: torch.Tensor) -> torch.Tensor:
        """(B, H, W) block ids -> (B, H, W) class indices (IGNORE for ids without a class)."""
        return self.class_index[block_id.long()]

    def block_ids_of(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, K, H, W) logits -> (B, H, W) block ids of the most likely classes."""
        return self.block_ids[logits.argmax(1)]
