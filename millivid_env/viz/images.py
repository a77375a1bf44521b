"""Image helpers: labelled tiles, contact sheets and PNG output (RGB arrays throughout)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np


def label(image: np.ndarray, text: str) -> np.ndarray:
    """A copy of `image` (H, W, 3) uint8 with `text` on a dark band at the top."""
    out = image.copy()
    scale = max(out.shape[1] / 256, 0.3)
    band = int(14 * scale) + 4
    out[:band] = (out[:band] * 0.35).astype(np.uint8)
    cv2.putText(out, text, (3, band - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def contact_sheet(images: Sequence[np.ndarray], cols: int, pad: int = 2) -> np.ndarray:
    """Tile equally sized (H, W, 3) images into a grid, row-major."""
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    h, w, _ = images[0].shape
    rows = -(-len(images) // cols)
    sheet = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 24, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        sheet[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = image
    return sheet


def write_png(path: str | Path, image: np.ndarray) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write image {path}")
    return path
