"""Flat rollout at the same budget: whole frames (every level), half of them new, half recent context."""
from __future__ import annotations

import numpy as np

from millivid_env.strategies.base import Step, Strategy, pairs


class Flat(Strategy):
    name = "flat"

    def next_step(self, known: np.ndarray) -> Step | None:
        cfg = self.cfg
        a = int(self.frontier(known)[0])
        if a == len(known):
            return None
        frames = cfg.budget // cfg.frame_tokens
        new = max(1, frames // 2)
        every = range(cfg.levels)
        targets = np.concatenate([pairs(range(a, min(a + new, len(known))), k) for k in every])
        targets = targets[~known[targets[:, 0], targets[:, 1]]]
        return Step(self.back(a, (frames - new) * cfg.frame_tokens, every), targets)
