"""Block classes from colour alone, and their IoU against the true block-id map.

Every block type and landmark has its own colour family (blocks.toml), so a colour-to-class
lookup recovers the class of most pixels without learned weights: a 32^3 RGB histogram of votes
per class, majority per bin. Votes come from the renderer's colour rules (face shade, texel
grain, fog) and from rendered frames with their true block-id maps; bins nothing reaches take
the class of the nearest bin that has votes.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from millivid_env.world import block_table
from millivid_env.world.raycast import BOTTOM_SHADE, FACE_SHADE, SKY_HORIZON, SKY_ZENITH, TEXTURE_CONTRAST

BINS = 32
SHIFT = 3  # 256 / BINS = 8 = 2 ** SHIFT
# A landmark's share of a frame's pixels, split into specks, distant, near and frame-filling views:
# how much of a frame a landmark covers bounds what a one-token level can place.
COVER_EDGES = (0.01, 0.05, 0.2)


def flat_bin(r, g, b):
    """Index of colour bin (r, g, b), each 0..BINS-1, in the flattened BINS^3 table (numpy or torch ints)."""
    return (r * BINS + g) * BINS + b


def _bin_index(rgb: np.ndarray) -> np.ndarray:
    q = rgb.astype(np.int64) >> SHIFT
    return flat_bin(q[..., 0], q[..., 1], q[..., 2])


def _fill_empty(labels: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """Give every empty bin the label of a nearest non-empty bin, growing labels through the grid."""
    grid = np.where(empty, -1, labels).reshape(BINS, BINS, BINS)
    while (grid < 0).any():
        for axis in range(3):
            for shift in (1, -1):
                neighbour = np.roll(grid, shift, axis)
                grid = np.where((grid < 0) & (neighbour >= 0), neighbour, grid)
    return grid.ravel()


def semantic_mask(depth: np.ndarray, block_id: np.ndarray, fog_start: float) -> np.ndarray:
    """Pixels whose class colour survives: in front of the fog, or sky. Beyond the fog start
    every class blends toward the sky colour, and no palette (nor model) can tell them apart."""
    return (depth < fog_start) | (block_id == 0)


class PaletteClassifier:
    def __init__(self) -> None:
        # Prior votes from the renderer's own colour rules: every class owns its shaded, grained
        # and fogged colours even where the fitting frames never showed it.
        votes = np.zeros((BINS**3, 256), np.int64)
        table = block_table()
        shades = np.array([BOTTOM_SHADE, *FACE_SHADE])[:, None, None]
        grain = 1 + TEXTURE_CONTRAST * np.linspace(-1, 1, 5)[None, :, None]
        fog = np.linspace(0, 0.7, 8)[None, None, :]
        horizon, zenith = np.array(SKY_HORIZON), np.array(SKY_ZENITH)
        for block in table.blocks:
            if block.id == 0:
                colours = horizon + (zenith - horizon) * np.linspace(0, 1, 16)[:, None]
            else:
                lit = (shades * grain * (1 - fog))[..., None] * table.palette[block.id]
                colours = (lit + fog[..., None] * horizon).reshape(-1, 3)
            np.add.at(votes[:, block.id], _bin_index(np.clip(colours * 255, 0, 255).astype(np.uint8)), 1)
        self.votes = votes
        self.table = _fill_empty(votes.argmax(1), votes.sum(1) == 0).astype(np.uint8)

    def fit(self, rgb: np.ndarray, block_id: np.ndarray) -> "PaletteClassifier":
        """Add the votes of rendered frames rgb (..., H, W, 3) uint8 with their true block_id."""
        self.votes = self.votes + np.bincount(_bin_index(rgb).ravel() * 256 + block_id.ravel(),
                                              minlength=BINS**3 * 256).reshape(BINS**3, 256)
        seen = self.votes.sum(1) > 0
        self.table[seen] = self.votes[seen].argmax(1)
        return self

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.table[_bin_index(rgb)]


def class_iou(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> dict[int, float]:
    """IoU of every class present in the truth, over the pixels in `mask` (all by default)."""
    if mask is not None:
        pred, truth = pred[mask], truth[mask]
    scores = {}
    for c in np.unique(truth):
        p, t = pred == c, truth == c
        scores[int(c)] = float((p & t).sum() / (p | t).sum())
    return scores


def semantic_scores(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> dict[str, Any]:
    """From one pass over the classes: "miou", "landmark_iou" (mean over the landmark classes in
    the truth; None when no landmark is in view) and "class_iou" {class name: IoU}."""
    per_class = class_iou(pred, truth, mask)
    table = block_table()
    landmark_ids = {b.id for b in table.landmarks}
    landmarks = [v for c, v in per_class.items() if c in landmark_ids]
    names = {b.id: b.name for b in table.blocks}
    return {"miou": float(np.mean(list(per_class.values()))),
            "landmark_iou": float(np.mean(landmarks)) if landmarks else None,
            "class_iou": {names[c]: v for c, v in per_class.items()}}


def cover_labels(edges: tuple[float, ...] = COVER_EDGES) -> list[str]:
    """"<1%", "1-5%", ..., ">=20%": the names of the cover bins that `edges` bound."""
    pct = [f"{e:.0%}".removesuffix("%") for e in edges]
    return [f"<{pct[0]}%", *(f"{a}-{b}%" for a, b in zip(pct, pct[1:])), f">={pct[-1]}%"]


def landmark_iou_by_cover(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None,
                          edges: tuple[float, ...] = COVER_EDGES) -> dict[str, dict[str, Any]]:
    """Landmark IoU split by how much of the frame the landmark covers: each (frame, landmark in
    view) pair falls in the bin of the landmark's share of the frame's pixels, and a bin's IoU
    pools the pixels of its pairs, all landmark classes together. Only frames that show the
    landmark count, so this asks whether a landmark in view is kept, not whether it is painted
    where it is absent (the class-mean landmark IoU of `semantic_scores` counts both).
    pred, truth: (N, H, W) class maps; returns {label: {"pairs": n, "iou": IoU or None}}."""
    mask = np.ones(truth.shape, bool) if mask is None else mask
    inter, union, pairs = (np.zeros(len(edges) + 1) for _ in range(3))
    for block in block_table().landmarks:
        shown = (truth == block.id) & mask
        cover = shown.reshape(len(shown), -1).mean(1)
        frames = cover > 0
        if not frames.any():
            continue
        bins = np.digitize(cover[frames], edges)
        painted = (pred[frames] == block.id) & mask[frames]
        inter += np.bincount(bins, (painted & shown[frames]).sum((1, 2)), len(pairs))
        union += np.bincount(bins, (painted | shown[frames]).sum((1, 2)), len(pairs))
        pairs += np.bincount(bins, minlength=len(pairs))
    return {name: {"pairs": int(n), "iou": float(i / u) if n else None}
            for name, n, i, u in zip(cover_labels(edges), pairs, inter, union)}
