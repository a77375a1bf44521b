"""MilliVid coarse-to-fine rollout: coarse tokens far ahead, then level by level over shorter windows.

The coarsest level is generated for a whole window of future frames first; each finer level then
fills its own, shorter window under the coarser tokens already there, finest last, depth first
(for windows [3, 12, 48, 192], a 192-frame chunk takes 1 + 4 + 16 + 64 = 85 steps). Each step
sees, per level, one window of frames: the targets at their own level, the most recent frames at
finer levels, the coarser tokens around the targets (past and already planned future), plus the
target level's own past in the extra tokens. The budget is the same at every step, so the cost per
frame does not grow with the horizon while the coarse past reaches back `extra` tokens' worth.
"""
from __future__ import annotations

import numpy as np

from millivid_env.strategies.base import Step, Strategy, pairs


class MilliVid(Strategy):
    name = "millivid"

    def next_step(self, known: np.ndarray) -> Step | None:
        cfg = self.cfg
        ends = self.frontier(known)
        limits = np.append(ends[1:], len(known))  # a level may not run ahead of the next coarser one
        behind = np.flatnonzero(ends < limits)
        if not len(behind):
            return None
        k = int(behind[0])  # finest first: coarser tokens are only made when every finer one caught up
        a = int(ends[k])
        b = min(a + cfg.windows[k], int(limits[k]))
        context = [self.back(a, cfg.extra, range(k, k + 1))]
        for j in range(cfg.levels):
            if j < k:  # finer levels reach exactly to a: their most recent window
                context.append(pairs(range(max(0, a - cfg.windows[j]), a), j))
            elif j > k:  # coarser levels reach past b: the window centred on the targets, kept within what is known
                start = min((a + b - cfg.windows[j]) // 2, int(ends[j]) - cfg.windows[j])
                start = max(0, start)
                context.append(pairs(range(start, min(start + cfg.windows[j], int(ends[j]))), j))
        return Step(np.concatenate(context), pairs(range(a, b), k))
