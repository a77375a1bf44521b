"""False-colour pictures of what a frame records beside its RGB (depth, block ids) and of a world seen from above."""
from __future__ import annotations

import cv2
import numpy as np

from millivid_env.world import World, block_table

NEAREST = 0.5  # blocks: depths below this share the brightest colour


def depth_image(depth: np.ndarray, far: float) -> np.ndarray:
    """(H, W, 3) uint8 of a depth map (H, W): near is bright, far dark, at or past `far` (the view
    distance, which sky pixels record) black. Scaled by log depth, which spreads the near blocks
    (where a player looks) over most of the colour range."""
    clipped = np.clip(np.nan_to_num(depth, nan=far, posinf=far), NEAREST, far)
    scaled = ((1 - np.log(clipped / NEAREST) / np.log(far / NEAREST)) * 255).astype(np.uint8)
    image = cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_MAGMA), cv2.COLOR_BGR2RGB)
    image[clipped >= far] = 0
    return image


def block_image(block_ids: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 of a block-id map: every block in its base colour, unshaded, so a class map
    reads as flat regions (landmarks stand out in their own colours)."""
    palette = (block_table().palette * 255 + 0.5).astype(np.uint8)
    return palette[block_ids]


def top_down(world: World) -> np.ndarray:
    """(Z, X, 3) uint8: the top block of every column in its colour, shaded by height (rows are z,
    columns x, as a map of the (x, z) plane)."""
    blocks = world.blocks
    solid = blocks != 0
    top = np.where(solid.any(axis=1), blocks.shape[1] - 1 - np.argmax(solid[:, ::-1], axis=1), 0)
    ids = np.take_along_axis(blocks, top[:, None, :], axis=1)[:, 0]
    shade = 0.55 + 0.45 * (top - top.min()) / max(int(top.max() - top.min()), 1)
    colours = block_table().palette[ids] * shade[..., None]
    return (np.clip(colours, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 0, 2)
