"""Which frames revisit a place seen at the start of an episode, from recorded poses alone.

Frames are bucketed on a grid over (x, z) whose cells are `radius` wide, so every camera within
`radius` of a frame lies in its own cell or one of the eight around it. Each cell lists its frames
in time order, and a query stops at the first match, so a whole episode costs about linear time
and memory: a 100,000-frame track takes a fraction of a second, where comparing all pairs needed 160 GB.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit


@dataclass(frozen=True)
class RevisitConfig:
    context: int = 256  # frames given to the model before generation starts
    radius: float = 4.0  # blocks, horizontal distance between camera positions
    max_yaw: float = 30.0  # degrees between viewing directions
    recent: int = 64  # matches inside the last `recent` frames do not disqualify a revisit


def near(poses_a: np.ndarray, poses_b: np.ndarray, cfg: RevisitConfig) -> np.ndarray:
    """(A, B) bool: camera a is within `radius` of camera b and looks within `max_yaw` of it.
    Pairwise, so for short lists; `revisit_mask` answers for whole episodes."""
    d = np.linalg.norm(poses_a[:, None, [0, 2]] - poses_b[None, :, [0, 2]], axis=-1)
    yaw = np.abs((poses_a[:, None, 3] - poses_b[None, :, 3] + 180.0) % 360.0 - 180.0)
    return (d < cfg.radius) & (yaw < cfg.max_yaw)


@njit(cache=True, inline="always")
def _is_near(x, z, yaw, i, j, radius, max_yaw):
    dx, dz = x[i] - x[j], z[i] - z[j]
    turn = abs((yaw[i] - yaw[j] + 180.0) % 360.0 - 180.0)
    return dx * dx + dz * dz < radius * radius and turn < max_yaw


@njit(cache=True, inline="always")
def _cell_key(cx, cz):
    return np.int64(cx) * np.int64(1 << 32) + np.int64(cz)


@njit(cache=True)
def _any_near_between(x, z, yaw, i, first, stop, cell_keys, cell_frames, radius, max_yaw):
    """Is frame i near a frame j with first <= j < stop? Looks in the 3x3 cells around i."""
    cx, cz = np.floor(x[i] / radius), np.floor(z[i] / radius)
    for ox in range(-1, 2):
        for oz in range(-1, 2):
            key = _cell_key(cx + ox, cz + oz)
            lo, hi = np.searchsorted(cell_keys, key, "left"), np.searchsorted(cell_keys, key, "right")
            # Within a cell, frames are in time order: skip to `first`, stop at `stop`.
            k = lo + np.searchsorted(cell_frames[lo:hi], first)
            while k < hi and cell_frames[k] < stop:
                if _is_near(x, z, yaw, i, cell_frames[k], radius, max_yaw):
                    return True
                k += 1
    return False


@njit(cache=True)
def _cell_keys(x, z, radius):
    keys = np.empty(len(x), np.int64)
    for i in range(len(x)):
        keys[i] = _cell_key(np.floor(x[i] / radius), np.floor(z[i] / radius))
    return keys


@njit(cache=True)
def _revisit_kernel(x, z, yaw, context, radius, max_yaw, recent, cell_keys, cell_frames, mask):
    for t in range(context, len(x)):
        mask[t] = (_any_near_between(x, z, yaw, t, 0, context, cell_keys, cell_frames, radius, max_yaw)
                   and not _any_near_between(x, z, yaw, t, context, t - recent, cell_keys, cell_frames, radius, max_yaw))


def revisit_mask(poses: np.ndarray, cfg: RevisitConfig = RevisitConfig()) -> np.ndarray:
    """(T,) bool over frames of poses (T, 5): True for a frame after the context that stands near a
    context pose, and near no frame generated since, except the last `cfg.recent` ones (walking on
    along a revisited path keeps counting; a place already seen again during generation does not).
    """
    poses = np.asarray(poses, np.float64)
    mask = np.zeros(len(poses), bool)
    if len(poses) <= cfg.context:
        return mask
    x, z, yaw = (np.ascontiguousarray(poses[:, k]) for k in (0, 2, 3))
    keys = _cell_keys(x, z, cfg.radius)
    order = np.lexsort((np.arange(len(poses)), keys))  # by cell, then by time
    _revisit_kernel(x, z, yaw, cfg.context, cfg.radius, cfg.max_yaw, cfg.recent, keys[order], order.astype(np.int64), mask)
    return mask
