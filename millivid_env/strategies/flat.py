"""Flat rollout at the same budget: whole frames (every level), half of them new, half recent context."""
from __future__ import annotations

import numpy as np

from millivid_env.strategies.base import Step, Strategy


class Flat(Strategy):
    name = "flat"

    def next_step(self, known: np.ndarray) -> Step | None:
        cfg = self.cfg
        a = self.first_open_frame(known)
        if a is None:
            return None
        frames = cfg.budget // cfg.frame_tokens
        new = max(1, frames // 2)
        return Step(self.back(a, (frames - new) * cfg.frame_tokens, range(cfg.levels)), self.whole_frames(known, a, new))
