"""Train the hierarchical tokenizer on a dataset's frames (resumable; DDP under torchrun)."""
from __future__ import annotations

import argparse
import functools
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from millivid_env.cli import options
from millivid_env.cli.config_flags import add_config_flags, with_flags
from millivid_env.data.frames import available_memory, memory_needed
from millivid_env.data.windows import WindowDataset
from millivid_env.errors import UserError
from millivid_env.models.tokenizer import PRESETS, Tokenizer, TokenizerConfig, get_config, tokenizer_config
from millivid_env.models.palette_loss import PaletteLoss, fitted_palette
from millivid_env.models.tokenizer_training import frame_batches, prefix_psnr, to_images, tokenizer_loss
from millivid_env.models import checkpoint
from millivid_env.models.trainer import TrainConfig, setup_distributed, train

VALIDATION_FRAMES = 256
HEAD_PREFIX = "decoder.classes."  # the class head's weights
MEMORY_SHARE = 0.5  # of the available RAM that --frames auto may fill, leaving room for the model and the OS


def frames_in_memory(mode: str, root: Path, explorers: tuple[str, ...], copies: int = 1) -> bool:
    """Whether to decode the training split into RAM (--frames), with a clear error where it cannot fit.
    `copies`: processes on this machine that each load it (torchrun's LOCAL_WORLD_SIZE)."""
    if mode == "disk":
        return False
    needed, available = copies * memory_needed(root, "train", explorers), available_memory()
    if mode == "memory" and needed > available:
        raise UserError(f"{root}: the training frames need {needed / 2**30:.1f} GiB of RAM"
                        f"{f' ({copies} processes)' if copies > 1 else ''} and {available / 2**30:.1f} GiB "
                        f"is available; use --frames disk")
    return mode == "memory" or needed <= MEMORY_SHARE * available


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--out", required=True, help="run folder for checkpoints")
    p.add_argument("--batch", type=options.positive_int, default=32)
    p.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="the base config (--init RUN or --resume: that run's); flags below override its fields")
    p.add_argument("--freeze-tokenizer", action="store_true",
                   help="train only the class head on the --init run's frozen encoder and decoder (its images do not change)")
    p.add_argument("--init", type=Path, default=None, metavar="RUN",
                   help="start from this run's weights and config (fine-tuning; a fresh optimizer and schedule)")
    p.add_argument("--explorers", type=options.explorer_names, default=(), metavar="NAME[,NAME]",
                   help="train only on episodes these explorers recorded (validation keeps every episode)")
    p.add_argument("--frames", choices=("auto", "memory", "disk"), default="auto",
                   help="where training frames come from: 'memory' decodes the training split into RAM and draws "
                        "independent frames; 'disk' streams runs of consecutive frames; 'auto' (default): memory "
                        f"when it needs at most {MEMORY_SHARE * 100:.0f}%% of the available RAM")
    p.add_argument("--resume", action="store_true")
    add_config_flags(p, TokenizerConfig)
    add_config_flags(p, TrainConfig)
    p.set_defaults(run=run)


def validation_frames(root: Path) -> torch.Tensor:
    """Fixed validation frames: evenly spaced over the validation split (all episodes if it is empty)."""
    windows = WindowDataset(root, 1, split="val", fields=("rgb",))
    if len(windows) == 0:
        windows = WindowDataset(root, 1, split="all", fields=("rgb",))
    if len(windows) == 0:
        raise UserError(f"{root}: no complete episodes to validate on")
    picks = np.linspace(0, len(windows) - 1, min(VALIDATION_FRAMES, len(windows))).astype(int)
    return to_images(torch.from_numpy(windows.frames(picks)["rgb"]))


def run(args: argparse.Namespace) -> int:
    # Trained weights drive activations and gradients into subnormal floats, which the CPU handles
    # in microcode: the default tokenizer's later steps ran at half speed (BENCHMARKS.md). The flag
    # is per thread and the intra-op threads copy it when they start, so set it before any torch op.
    torch.set_flush_denormal(True)
    ddp = setup_distributed()
    out = Path(args.out)
    resuming = args.resume and (out / checkpoint.CONFIG_FILE).exists()
    if resuming:
        cfg = tokenizer_config(out)
    else:
        base = tokenizer_config(args.init) if args.init else get_config(args.preset)
        cfg = with_flags(base, args)
    if args.freeze_tokenizer and not (cfg.class_head and cfg.class_weight):
        raise UserError("--freeze-tokenizer trains only the class head: it needs --class-head and a --class-weight above 0")
    if args.freeze_tokenizer and not (args.init or resuming):
        raise UserError("--freeze-tokenizer needs --init RUN: the trained tokenizer whose features the class head reads")
    train_cfg = with_flags(TrainConfig(), args)
    train_cfg = replace(train_cfg, seed=train_cfg.seed + ddp.rank)
    torch.manual_seed(train_cfg.seed)
    model = Tokenizer(cfg)
    if args.init and not resuming:
        new_head = cfg.class_head and (not base.class_head or base.head_scales != cfg.head_scales)
        checkpoint.load_weights(args.init, model, fresh=HEAD_PREFIX if new_head else None)
        if new_head and ddp.main:
            print(f"{args.init} has {'a different' if base.class_head else 'no'} class head; the new one starts fresh")
    if args.freeze_tokenizer:
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith(HEAD_PREFIX))
    val = validation_frames(Path(args.data)).to(ddp.device)
    if val.shape[-1] != cfg.image_size or val.shape[-2] != cfg.image_size:
        source = f"the tokenizer in {args.init}" if args.init else f"preset {args.preset!r}"
        raise UserError(f"{args.data} holds {val.shape[-2]}x{val.shape[-1]} frames; {source} takes "
                        f"{cfg.image_size}x{cfg.image_size}")
    card = {"data": str(Path(args.data).resolve()), "batch": args.batch * ddp.world, "train": vars(train_cfg)}
    if args.freeze_tokenizer:
        card["trained"] = "class head only (--freeze-tokenizer)"
    if args.explorers:
        card["explorers"] = list(args.explorers)
    if args.init:
        card["init"] = {"run": str(args.init.resolve()), "step": checkpoint.read_config(args.init).get("step")}
    palette = None
    if cfg.palette_weight:
        fitted = fitted_palette(Path(args.data))
        palette = PaletteLoss(fitted).to(ddp.device) if fitted else None
        if palette is None and ddp.main:
            print(f"{args.data}: no block ids in the training episodes; training without the palette loss")
    loss = functools.partial(tokenizer_loss, palette=palette)
    in_memory = frames_in_memory(args.frames, Path(args.data), args.explorers, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
    card["frames"] = "memory" if in_memory else "disk"
    start = checkpoint.trainer_step(out) if args.resume else 0
    batches = frame_batches(Path(args.data), args.batch, "train", train_cfg.seed, ddp.device, args.explorers, in_memory, start)
    train(model, cfg, batches, loss, out,
          train_cfg, evaluate=lambda m: prefix_psnr(m, val), resume=args.resume, card=card, ddp=ddp)
    return 0
