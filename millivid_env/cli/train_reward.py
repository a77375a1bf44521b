"""Train a simulator's reward and termination head on a task dataset's recorded rewards."""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from millivid_env.cli import options
from millivid_env.cli.config_flags import add_config_flags, with_flags
from millivid_env.sim.reward_head import (
    RewardHead, RewardHeadConfig, RewardTrainConfig, evaluate, fit, generated_transitions, load_recorded,
    recorded_transitions, save_head, task_of,
)
from millivid_env.sim.simulation import SimSettings, Simulation
from millivid_env.sim.world_model import sim_config


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="task dataset (rewards, terminations) encoded by the simulator's tokenizer")
    p.add_argument("--sim", required=True, type=Path, help="the simulator run the head will serve (its tokenizer and actions)")
    p.add_argument("--out", required=True, type=Path, help="folder for the head (model.safetensors + config.json)")
    p.add_argument("--generated-context", type=options.non_negative_int, default=16,
                   help="also score the head on held-out steps the simulator generates after this many true frames "
                        "(0: only on true latents)")
    p.add_argument("--tokenizer", type=Path, help="the simulator's tokenizer, if not where its config says")
    add_config_flags(p, RewardTrainConfig)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    cfg = with_flags(RewardTrainConfig(), args)
    sim = sim_config(args.sim)
    train = recorded_transitions(load_recorded(args.data, ("train",), sim.codec, sim.tokenizer_id))
    held_out = load_recorded(args.data, ("val", "test"), sim.codec, sim.tokenizer_id)
    torch.manual_seed(cfg.seed)
    head = RewardHead(RewardHeadConfig(features=train.before[0].size, actions=sim.actions, action_codec=sim.action_codec,
                                       tokenizer_id=sim.tokenizer_id, task=task_of(args.data)))
    started = time.perf_counter()
    fit(head, train, cfg)
    figures = {"held_out": evaluate(head.eval(), recorded_transitions(held_out))}
    card = {"data": str(args.data), "train_steps": len(train), "train": dataclasses.asdict(cfg),
            "seconds": round(time.perf_counter() - started, 1)}
    if args.generated_context:
        # The same held-out steps once the simulator generates the frames after the first few:
        # the figures an agent trained inside `millivid/Sim-v0` gets.
        context = args.generated_context
        long_enough = [p for p in held_out if len(p[0].latents) > context]
        simulation = Simulation(SimSettings(checkpoint=args.sim, tokenizer=args.tokenizer))
        figures["held_out_true_after_context"] = evaluate(head, recorded_transitions(long_enough, context))
        figures["held_out_generated"] = evaluate(head, generated_transitions(simulation, long_enough, context))
        card["generated"] = {"context": context, "episodes": len(long_enough), "sampler_steps": simulation.settings.sampler_steps,
                             "cache": simulation.settings.cache}
    save_head(args.out, head, {"card": card, **figures})
    print(json.dumps(figures, indent=2))
    return 0
