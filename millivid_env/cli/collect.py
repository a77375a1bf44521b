"""Collect a dataset from a recipe (datasets/*.toml) with worker processes or Ray; resumable."""
from __future__ import annotations

import argparse
from pathlib import Path

from millivid_env.cli import options
from millivid_env.record.collect import collect, resume_recipe
from millivid_env.record.layout import DATASET_JSON
from millivid_env.record.inspect import summary_lines
from millivid_env.record.recipe import load_recipe


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="recipe TOML, e.g. datasets/voxel-revisit-64.toml")
    p.add_argument("--out", help="dataset folder (default: beside the recipe, named after it)")
    p.add_argument("--episodes", type=options.positive_int)
    p.add_argument("--frames", type=options.positive_int, help="steps per episode")
    p.add_argument("--seed", type=options.non_negative_int)
    p.add_argument("--workers", type=options.positive_int)
    p.add_argument("--ray", metavar="ADDRESS", help="run the workers on a Ray cluster ('local' starts one here)")
    p.add_argument("--resume", action="store_true", help="finish an interrupted collection in --out")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else Path(args.recipe).with_suffix("")
    flags = dict(episodes=args.episodes, frames=args.frames, seed=args.seed, workers=args.workers)
    if args.resume and (out / DATASET_JSON).exists():
        recipe = resume_recipe(out, **flags)
    else:
        recipe = load_recipe(args.recipe).override(**flags)
    collect(recipe, out, resume=args.resume, ray_address=args.ray)
    print("\n".join(summary_lines(out)))
    return 0
