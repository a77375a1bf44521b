"""Train a simulator's reward and termination head on a task dataset's recorded rewards."""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from millivid_env.cli.config_flags import add_config_flags, with_flags
from millivid_env.models import checkpoint
from millivid_env.sim.reward_head import (
    RewardHead, RewardHeadConfig, RewardTrainConfig, evaluate, fit, load_transitions, save_head, task_of,
)


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="task dataset (rewards, terminations) encoded by the simulator's tokenizer")
    p.add_argument("--sim", required=True, type=Path, help="the simulator run the head will serve (its tokenizer and actions)")
    p.add_argument("--out", required=True, type=Path, help="folder for the head (model.safetensors + config.json)")
    add_config_flags(p, RewardTrainConfig)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    cfg = with_flags(RewardTrainConfig(), args)
    sim = checkpoint.read_config(args.sim)["config"]
    train = load_transitions(args.data, ("train",), sim["actions"], sim["tokenizer_id"])
    held_out = load_transitions(args.data, ("val", "test"), sim["actions"], sim["tokenizer_id"])
    torch.manual_seed(cfg.seed)
    head = RewardHead(RewardHeadConfig(features=train.before[0].size, actions=sim["actions"],
                                       tokenizer_id=sim["tokenizer_id"], task=task_of(args.data)))
    started = time.perf_counter()
    fit(head, train, cfg)
    figures = evaluate(head.eval(), held_out)
    save_head(args.out, head, {"card": {"data": str(args.data), "train_steps": len(train), "train": dataclasses.asdict(cfg),
                                        "seconds": round(time.perf_counter() - started, 1)}, "held_out": figures})
    print(json.dumps(figures, indent=2))
    return 0
