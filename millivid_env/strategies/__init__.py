"""Rollout strategies: pure planning of which (frame, level) tokens each generation step sees and makes."""
from __future__ import annotations

from millivid_env.errors import UserError
from millivid_env.strategies.base import PRESETS, Step, Strategy, StrategyConfig
from millivid_env.strategies.causal import Causal
from millivid_env.strategies.flat import Flat
from millivid_env.strategies.framepack import FramePack
from millivid_env.strategies.millivid import MilliVid

STRATEGIES: dict[str, type[Strategy]] = {s.name: s for s in (MilliVid, Flat, FramePack, Causal)}


def make_strategy(name: str, cfg: StrategyConfig | None = None) -> Strategy:
    if name not in STRATEGIES:
        raise UserError(f"unknown strategy {name!r}; choose from {sorted(STRATEGIES)}")
    return STRATEGIES[name](cfg or StrategyConfig())


__all__ = ["PRESETS", "STRATEGIES", "Step", "Strategy", "StrategyConfig", "make_strategy"]
