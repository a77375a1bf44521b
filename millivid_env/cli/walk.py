"""Walk an env with a scripted explorer and write the first-person video (mp4 or gif)."""
from __future__ import annotations

import argparse

from tqdm import tqdm

from millivid_env.agents import EXPLORERS, make_explorer
from millivid_env.cli import options
from millivid_env.envs.make import make_env
from millivid_env.viz import write_video


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", default="millivid/VoxelLoop-v0", help="Gymnasium env id")
    p.add_argument("--explorer", default="revisit", choices=sorted(EXPLORERS))
    p.add_argument("--frames", type=options.non_negative_int, default=400)
    p.add_argument("--seed", type=options.non_negative_int, default=0)
    p.add_argument("--size", type=options.size, default=(64, 64))
    p.add_argument("--scale", type=int, default=4, help="enlarge frames in the video")
    p.add_argument("--out", default="walk.mp4")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    env = make_env(args.env, size=args.size)
    explorer = make_explorer(args.explorer, env.action_space, seed=args.seed)
    obs, info = env.reset(seed=args.seed)
    frames = [obs["pov"]]
    for _ in tqdm(range(args.frames), desc="walk", unit="frame"):
        obs, _, terminated, truncated, info = env.step(explorer.act(obs, info))
        frames.append(obs["pov"])
        if terminated or truncated:
            break
    print(write_video(args.out, frames, fps=20, scale=args.scale))
    return 0
