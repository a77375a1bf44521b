"""Train the simulator's diffusion model on encoded latents under a rollout strategy (resumable; DDP under torchrun)."""
from __future__ import annotations

import argparse
import dataclasses
import functools
from pathlib import Path

import torch

from millivid_env.cli import options
from millivid_env.cli.config_flags import add_config_flags, config_overrides, with_flags
from millivid_env.errors import UserError
from millivid_env.models import checkpoint
from millivid_env.models.diffusion import Denoiser
from millivid_env.models.encode import tokenizer_id
from millivid_env.models.tokenizer import tokenizer_config
from millivid_env.models.trainer import TrainConfig, setup_distributed, train
from millivid_env.sim.episodes import load_encoded
from millivid_env.sim.tokens import Pyramid
from millivid_env.sim.training import (
    VALIDATION_ITEMS, Arrangements, dataset_codec, fit_normalisation, sim_loss, validation_loss,
)
from millivid_env.sim.world_model import DERIVED, SIM_PRESETS, SimConfig, sim_config
from millivid_env.strategies import make_strategy

TRAIN_DEFAULTS = TrainConfig(steps=4000, lr=3e-4, warmup=200, eval_every=500, save_every=100)


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="dataset folder with latents (`millivid encode`)")
    p.add_argument("--out", required=True, type=Path, help="run folder for checkpoints")
    p.add_argument("--preset", choices=sorted(SIM_PRESETS), default="cpu",
                   help="the base config (--resume: the run's); flags below override its fields")
    p.add_argument("--episodes", type=options.positive_int, default=None, help="train on at most this many episodes")
    p.add_argument("--resume", action="store_true")
    add_config_flags(p, SimConfig, exclude=DERIVED)
    add_config_flags(p, TrainConfig)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    torch.set_flush_denormal(True)
    ddp = setup_distributed()
    resuming = args.resume and (args.out / checkpoint.CONFIG_FILE).exists()
    if resuming:
        cfg = sim_config(args.out)
    else:
        overrides = config_overrides(args, SimConfig)
        tokenizer = Path(overrides.get("tokenizer", SIM_PRESETS[args.preset].tokenizer))
        tok, codec = tokenizer_config(tokenizer), dataset_codec(args.data)
        cfg = dataclasses.replace(SIM_PRESETS[args.preset], **overrides, tokens=tok.tokens, channels=tok.channels,
                                  actions=codec.n, action_codec=codec.kind, tokenizer_id=tokenizer_id(tokenizer))
    train_cfg = with_flags(TRAIN_DEFAULTS, args)
    train_cfg = dataclasses.replace(train_cfg, seed=train_cfg.seed + ddp.rank)
    torch.manual_seed(train_cfg.seed)
    episodes = load_encoded(args.data, "train", cfg.codec, cfg.tokenizer_id, args.episodes)
    val_split = load_encoded(args.data, "val", cfg.codec, cfg.tokenizer_id) if _has_split(args.data, "val") else episodes
    if episodes[0].latents.shape[1:] != (sum(cfg.tokens), cfg.channels):
        raise UserError(f"{args.data}: latents of {episodes[0].latents.shape[1:]} tokens x channels, "
                        f"the simulator expects {(sum(cfg.tokens), cfg.channels)}")
    pyramid, strategy = Pyramid(cfg.tokens), make_strategy(cfg.strategy, cfg.strategy_config())
    model = Denoiser(cfg.dit_config())
    if not resuming:
        fit_normalisation(model, episodes, pyramid)
    start = checkpoint.trainer_step(args.out) if args.resume else 0
    batches = Arrangements(episodes, strategy, pyramid, cfg.plan_contexts, cfg.batch, train_cfg.seed + start)
    val = Arrangements(val_split, strategy, pyramid, cfg.plan_contexts, 1, 0).fixed(VALIDATION_ITEMS, seed=0)
    card = {"data": str(args.data), "episodes": len(episodes), "batch": cfg.batch * ddp.world,
            "train": dataclasses.asdict(train_cfg), "parameters": sum(p.numel() for p in model.net.parameters())}
    loss = functools.partial(sim_loss, noise=cfg.noise(), device=ddp.device)
    train(model, cfg, batches, loss, args.out, train_cfg, evaluate=lambda m: validation_loss(m, val),
          resume=args.resume, card=card, ddp=ddp)
    return 0


def _has_split(root: Path, split: str) -> bool:
    from millivid_env.data.windows import split_episodes
    return bool(split_episodes(root, split))
