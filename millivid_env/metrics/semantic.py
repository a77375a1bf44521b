"""Block classes from colour alone, and their IoU against the true block-id map.

Every block type and landmark has its own colour family (blocks.toml), so a colour-to-class
lookup recovers the class of most pixels without learned weights. The lookup is fitted from
rendered frames and their true block-id maps: a 32^3 RGB histogram per class, majority vote per
bin; empty bins fall back to the nearest base colour.
"""
from __future__ import annotations

import numpy as np

from millivid_env.world import block_table
from millivid_env.world.raycast import SKY_HORIZON

BINS = 32
SHIFT = 3  # 256 / BINS = 8 = 2 ** SHIFT


def _bin_index(rgb: np.ndarray) -> np.ndarray:
    q = rgb.astype(np.int64) >> SHIFT
    return (q[..., 0] * BINS + q[..., 1]) * BINS + q[..., 2]


class PaletteClassifier:
    def __init__(self) -> None:
        table = block_table()
        ids = [b.id for b in table.blocks if b.id != 0]
        colours = np.array([table.palette[i] for i in ids] + [SKY_HORIZON]) * 255
        labels = np.array(ids + [0])
        centres = (np.stack(np.meshgrid(*[np.arange(BINS)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5) * (256 / BINS)
        nearest = np.argmin(((centres[:, None] - colours[None]) ** 2).sum(-1), axis=1)
        self.table = labels[nearest].astype(np.uint8)  # fallback: nearest base colour

    def fit(self, rgb: np.ndarray, block_id: np.ndarray) -> "PaletteClassifier":
        """rgb (..., H, W, 3) uint8 with their true block_id (..., H, W) uint8."""
        votes = np.bincount(_bin_index(rgb).ravel() * 256 + block_id.ravel(), minlength=BINS**3 * 256).reshape(BINS**3, 256)
        seen = votes.sum(1) > 0
        self.table[seen] = votes[seen].argmax(1)
        return self

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.table[_bin_index(rgb)]


def class_iou(pred: np.ndarray, truth: np.ndarray) -> dict[int, float]:
    """IoU of every class present in the truth."""
    scores = {}
    for c in np.unique(truth):
        p, t = pred == c, truth == c
        scores[int(c)] = float((p & t).sum() / (p | t).sum())
    return scores


def miou(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(list(class_iou(pred, truth).values())))


def landmark_iou(pred: np.ndarray, truth: np.ndarray) -> float | None:
    """Mean IoU over the landmark classes present in the truth (None when no landmark is in view)."""
    landmarks = {b.id for b in block_table().landmarks}
    scores = [v for c, v in class_iou(pred, truth).items() if c in landmarks]
    return float(np.mean(scores)) if scores else None
