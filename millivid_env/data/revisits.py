"""Which frames revisit a place seen at the start of an episode, from recorded poses alone."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RevisitConfig:
    context: int = 256  # frames given to the model before generation starts
    radius: float = 4.0  # blocks, horizontal distance between camera positions
    max_yaw: float = 30.0  # degrees between viewing directions
    recent: int = 64  # matches inside the last `recent` frames do not disqualify a revisit


def near(poses_a: np.ndarray, poses_b: np.ndarray, cfg: RevisitConfig) -> np.ndarray:
    """(A, B) bool: camera a is within `radius` of camera b and looks within `max_yaw` of it."""
    d = np.linalg.norm(poses_a[:, None, [0, 2]] - poses_b[None, :, [0, 2]], axis=-1)
    yaw = np.abs((poses_a[:, None, 3] - poses_b[None, :, 3] + 180.0) % 360.0 - 180.0)
    return (d < cfg.radius) & (yaw < cfg.max_yaw)


def revisit_mask(poses: np.ndarray, cfg: RevisitConfig = RevisitConfig()) -> np.ndarray:
    """(T,) bool over frames of poses (T, 5): True for a frame after the context that stands near a
    context pose, and near no frame generated since, except the last `cfg.recent` ones (walking on
    along a revisited path keeps counting; a place already seen again during generation does not).
    """
    t = len(poses)
    mask = np.zeros(t, bool)
    if t <= cfg.context:
        return mask
    later = poses[cfg.context:]
    in_context = near(later, poses[:cfg.context], cfg).any(axis=1)
    seen_since = near(later, later, cfg)
    rows, cols = np.indices(seen_since.shape)
    seen_since &= cols < rows - cfg.recent  # only generated frames older than the recent window count
    mask[cfg.context:] = in_context & ~seen_since.any(axis=1)
    return mask
