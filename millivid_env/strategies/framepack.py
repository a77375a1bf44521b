"""FramePack at the same budget: a few new whole frames, the past compressed more the older it is.

The context budget is split evenly over as many tiers as there are levels: the newest tier keeps
frames whole, each older tier drops the next finer level (4x fewer tokens a frame), and the oldest
tier, coarsest level only, takes what the others leave.
"""
from __future__ import annotations

import numpy as np

from millivid_env.errors import UserError
from millivid_env.strategies.base import Step, Strategy


class FramePack(Strategy):
    name = "framepack"

    def next_step(self, known: np.ndarray) -> Step | None:
        cfg = self.cfg
        a = self.first_open_frame(known)
        if a is None:
            return None
        spare = cfg.budget - cfg.new_frames * cfg.frame_tokens
        if spare < 0:
            raise UserError(f"FramePack's {cfg.new_frames} new frames need {cfg.new_frames * cfg.frame_tokens} tokens, "
                            f"more than the budget of {cfg.budget}")
        targets = self.whole_frames(known, a, cfg.new_frames)
        context, end, share = [], a, spare // cfg.levels
        for tier in range(cfg.levels):
            tokens = share if tier < cfg.levels - 1 else spare
            taken = self.back(end, tokens, range(tier, cfg.levels))
            if len(taken):
                end = int(taken[:, 0].min())
                spare -= sum(cfg.tokens[k] for k in taken[:, 1])
            context.append(taken)
        return Step(np.concatenate(context), targets)
