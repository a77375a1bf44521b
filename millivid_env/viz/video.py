"""Video output: mp4 (OpenCV's mp4v codec, no ffmpeg needed) or gif."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import cv2
import numpy as np


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float = 20.0, scale: int = 1) -> Path:
    """Write RGB (H, W, 3) uint8 frames; `scale` enlarges each frame with nearest-neighbour pixels."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = (np.repeat(np.repeat(f, scale, 0), scale, 1) if scale > 1 else f for f in frames)
    if path.suffix == ".gif":
        return _write_gif(path, frames, fps)
    writer = None
    for frame in frames:
        if writer is None:
            h, w, _ = frame.shape
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            if not writer.isOpened():
                raise OSError(f"could not open video writer for {path}")
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    if writer is None:
        raise ValueError(f"no frames to write to {path}")
    writer.release()
    return path


def _write_gif(path: Path, frames: Iterable[np.ndarray], fps: float) -> Path:
    from PIL import Image  # pillow arrives with matplotlib; only gifs need it

    images = [Image.fromarray(f) for f in frames]
    if not images:
        raise ValueError(f"no frames to write to {path}")
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path
