"""Inspect rollout strategies: draw a plan (frames x levels, each step coloured, context vs targets)."""
from __future__ import annotations

import argparse
import dataclasses

from millivid_env.cli import options
from millivid_env.cli.config_flags import add_config_flags, with_flags
from millivid_env.strategies import PRESETS, STRATEGIES, StrategyConfig, make_strategy
from millivid_env.viz.plan import draw_plan


def add_parser(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    show = sub.add_parser("show", help="draw a strategy's plan to a PNG and print its step count and budget")
    show.add_argument("name", choices=sorted(STRATEGIES))
    show.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="token pyramid and windows")
    show.add_argument("--context", type=options.positive_int, default=128, help="frames given before the rollout")
    show.add_argument("--frames", type=options.positive_int, default=192, help="frames generated")
    show.add_argument("--out", default="plan.png", help="PNG to write")
    add_config_flags(show, StrategyConfig)
    show.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    cfg = with_flags(PRESETS[args.preset], args)
    strategy = make_strategy(args.name, cfg)
    path = draw_plan(strategy, args.context, args.frames, args.out)
    steps = strategy.plan(args.context, args.frames)
    print(f"{args.name}: {len(steps)} steps, at most {max(s.tokens(cfg.tokens) for s in steps)} of "
          f"{cfg.budget} tokens a step ({dataclasses.asdict(cfg)}) -> {path}")
    return 0
