"""Causal rollout for the interactive simulator: each step completes one new frame, every level.

The context is one window per level of the most recent frames (coarse levels reaching further
back), the coarsest level extended back with whatever the budget leaves. Nothing is planned ahead
of the action just taken, which is what an env's `step(action)` needs.
"""
from __future__ import annotations

import numpy as np

from millivid_env.strategies.base import Step, Strategy, pairs


class Causal(Strategy):
    name = "causal"

    def next_step(self, known: np.ndarray) -> Step | None:
        cfg = self.cfg
        a = self.first_open_frame(known)
        if a is None:
            return None
        targets = self.whole_frames(known, a, 1)
        finer = range(cfg.levels - 1)
        context = [pairs(range(max(0, a - cfg.windows[j]), a), j) for j in finer]
        spare = cfg.budget - sum(cfg.tokens[k] for k in targets[:, 1]) - sum(len(c) * cfg.tokens[j] for j, c in zip(finer, context))
        context.append(self.back(a, spare, range(cfg.levels - 1, cfg.levels)))
        return Step(np.concatenate(context), targets)
