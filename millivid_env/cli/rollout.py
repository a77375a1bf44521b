"""Roll a trained simulator forward from a dataset episode's context under its true actions."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from millivid_env.cli import options
from millivid_env.cli.config_flags import add_config_flags, with_flags
from millivid_env.errors import UserError
from millivid_env.models.sampler import SamplerConfig
from millivid_env.record import layout
from millivid_env.sim.episodes import find_episode, read_encoded
from millivid_env.sim.rollout import decode_with_classes, rollout
from millivid_env.sim.scoring import context_palette, frame_scores
from millivid_env.sim.world_model import load_world_model
from millivid_env.strategies import STRATEGIES
from millivid_env.viz import label
from millivid_env.viz.video import write_video

# What a rollout is scored against, where the episode records it (depth and block ids are optional).
TRUTH = {"rgb": layout.RGB, "depth": layout.DEPTH, "block_id": layout.BLOCK_ID}


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sim", required=True, type=Path, help="trained simulator run (`millivid train-sim`)")
    p.add_argument("--data", required=True, type=Path, help="encoded dataset holding the episode")
    p.add_argument("--episode", type=options.non_negative_int, default=0, help="episode index in the dataset")
    p.add_argument("--context", type=options.positive_int, default=256, help="true frames given as context")
    p.add_argument("--frames", type=options.positive_int, default=768, help="frames to generate")
    p.add_argument("--strategy", choices=sorted(STRATEGIES), default=None, help="roll out with another strategy than the run's")
    p.add_argument("--tokenizer", type=Path, default=None, help="where the run's tokenizer is, if not where its config says")
    p.add_argument("--seed", type=options.non_negative_int, default=0)
    p.add_argument("--out", required=True, type=Path, help="folder for the video, rollout.npz and rollout.json")
    p.add_argument("--video", default="rollout.mp4", help="video file name in --out; .gif writes a gif")
    add_config_flags(p, SamplerConfig)
    p.set_defaults(run=run)


def side_by_side(truth: np.ndarray, generated: np.ndarray, first: int, context: int) -> list[np.ndarray]:
    """truth | generated per frame, labelled with the frame index (context frames show the truth twice)."""
    return [np.concatenate([label(t, f"{first + i} true"), label(g, f"{first + i} {'ctx' if first + i < context else 'gen'}")], 1)
            for i, (t, g) in enumerate(zip(truth, generated))]


def run(args: argparse.Namespace) -> int:
    model = load_world_model(args.sim, args.tokenizer)
    if args.strategy:
        model = model.with_strategy(args.strategy)
    sampler = with_flags(SamplerConfig(), args)
    ref = find_episode(args.data, args.episode)
    with layout.open_shard(ref.shard) as f:
        recorded = tuple(p for p in TRUTH.values() if p in f[ref.name])
    if layout.RGB not in recorded:
        raise UserError(f"{args.data}: episode {args.episode} records no RGB frames ({layout.RGB})")
    episode, arrays = read_encoded(args.data, ref, model.cfg.codec, model.cfg.tokenizer_id, extra=recorded)
    total = args.context + args.frames
    if len(episode.latents) < total:
        raise UserError(f"{args.data}: episode {args.episode} has {len(episode.latents)} frames, fewer than "
                        f"--context {args.context} + --frames {args.frames}")
    result = rollout(model, episode.latents[None, :args.context].astype(np.float32), episode.frame_actions[None, :total],
                     sampler, args.seed, progress=True)
    generated, classes = decode_with_classes(model, result.latents[0, args.context:])
    truth = arrays[layout.RGB][:total]
    # Per-frame scores (what `millivid view` plots under the frames); semantics need the true block ids.
    span = slice(args.context, total)
    palette = context_palette(truth[:args.context], arrays[layout.BLOCK_ID][:args.context] if layout.BLOCK_ID in arrays else None)
    scores = frame_scores(generated, classes, {k: arrays[p][span] for k, p in TRUTH.items() if p in arrays}, palette)
    args.out.mkdir(parents=True, exist_ok=True)
    shown = max(0, args.context - 16)  # the last context frames, then the rollout
    write_video(args.out / args.video, side_by_side(truth[shown:], np.concatenate([truth[shown:args.context], generated]),
                                                      shown, args.context), fps=10, scale=4)
    np.savez_compressed(args.out / "rollout.npz", context=truth[:args.context], generated=generated, truth=truth[args.context:],
                        generated_latents=result.latents[0, args.context:].astype(np.float16))
    steps = len(result.tokens_per_step)
    summary = {"sim": str(args.sim), "data": str(args.data), "episode": args.episode, "context": args.context,
               "frames": args.frames, "strategy": model.cfg.strategy, "sampler": vars(sampler), "steps": steps,
               "tokens_per_step": {"min": min(result.tokens_per_step), "max": max(result.tokens_per_step),
                                   "mean": round(float(np.mean(result.tokens_per_step)), 1)},
               "seconds_per_frame": round(result.seconds / args.frames, 4)}
    print(json.dumps(summary))
    summary["scores"] = {k: [round(v, 4) if np.isfinite(v) else None for v in values] for k, values in scores.items()}
    (args.out / "rollout.json").write_text(json.dumps(summary, indent=2))
    return 0
