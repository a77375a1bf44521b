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
from millivid_env.errors import UserError
from millivid_env.data.frames import available_memory, memory_needed
from millivid_env.data.windows import WindowDataset
from millivid_env.models.tokenizer import ACTIVATIONS, PRESETS, PYRAMIDS, Tokenizer, get_config, tokenizer_config
from millivid_env.models.palette_loss import PaletteLoss, fitted_palette
from millivid_env.models.tokenizer_training import frame_batches, prefix_psnr, to_images, tokenizer_loss
from millivid_env.models import checkpoint
from millivid_env.models.trainer import TrainConfig, setup_distributed, train

VALIDATION_FRAMES = 256
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
    p.add_argument("--steps", type=options.positive_int, default=TrainConfig.steps)
    p.add_argument("--batch", type=options.positive_int, default=32)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--final-lr", type=options.unit_fraction, default=TrainConfig.final_lr,
                   help="fraction of --lr the cosine schedule ends at")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument("--pyramid", choices=PYRAMIDS, default=None, help="'cascaded' for the paper's ablation")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), default=None, help="default: the preset's")
    p.add_argument("--token-blocks", type=options.positive_int, default=None,
                   help="residual blocks at each token level of the decoder (default: the preset's)")
    p.add_argument("--encoder-blocks", type=options.non_negative_int, default=None,
                   help="residual blocks at each token level of the encoder (default: the preset's)")
    p.add_argument("--pixel-blocks", type=options.positive_int, default=None,
                   help="residual blocks after each upsampling to full resolution (default: the preset's)")
    p.add_argument("--pixel-width", type=options.positive_int, default=None,
                   help="narrowest width of the decoder's upsampling stages (default: the preset's)")
    p.add_argument("--eval-every", type=options.positive_int, default=TrainConfig.eval_every)
    p.add_argument("--ema", type=options.unit_fraction, default=TrainConfig.ema,
                   help="decay of the weight average that is validated and saved (0: save the raw weights)")
    p.add_argument("--keep-all", type=options.unit_fraction, default=None,
                   help="share of each batch that decodes from every level (default: the preset's or --init run's; "
                        "0: all prefixes equally often)")
    p.add_argument("--palette-weight", type=options.non_negative_float, default=None,
                   help="weight of the block-class colour loss (default: the preset's or --init run's)")
    p.add_argument("--class-head", action=argparse.BooleanOptionalAction, default=None,
                   help="the decoder also reads out block-class logits per pixel (default: the preset's or --init run's; "
                        "added to an --init run without one, it starts fresh)")
    p.add_argument("--class-weight", type=options.non_negative_float, default=None,
                   help="weight of the class head's cross-entropy against the block ids (default: the preset's or --init run's)")
    p.add_argument("--class-scales", type=options.positive_int, default=None,
                   help="decoder resolutions the class head reads, counted from full resolution (default: the preset's or --init run's; "
                        "a different number from the --init run's starts the head fresh)")
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
    p.set_defaults(run=run)


def validation_frames(root: Path) -> torch.Tensor:
    """Fixed validation frames: evenly spaced over the validation split (all episodes if it is empty)."""
    windows = WindowDataset(root, 1, split="val", fields=("rgb",))
    if len(windows) == 0:
        windows = WindowDataset(root, 1, split="all", fields=("rgb",))
    if len(windows) == 0:
        raise UserError(f"{root}: no complete episodes to validate on")
    picks = np.linspace(0, len(windows) - 1, min(VALIDATION_FRAMES, len(windows))).astype(int)
    return to_images(torch.stack([windows[int(i)]["rgb"] for i in picks]))


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
        overrides = {"pyramid": args.pyramid, "activation": args.activation, "token_blocks": args.token_blocks,
                     "encoder_blocks": args.encoder_blocks,
                     "pixel_blocks": args.pixel_blocks, "pixel_width": args.pixel_width,
                     "palette_weight": args.palette_weight, "keep_all": args.keep_all,
                     "class_head": args.class_head, "class_weight": args.class_weight, "class_scales": args.class_scales}
        try:
            cfg = replace(base, **{k: v for k, v in overrides.items() if v is not None})
        except ValueError as e:
            raise UserError(str(e)) from None
    if args.freeze_tokenizer and not (cfg.class_head and cfg.class_weight):
        raise UserError("--freeze-tokenizer trains only the class head: it needs --class-head and a --class-weight above 0")
    if args.freeze_tokenizer and not (args.init or resuming):
        raise UserError("--freeze-tokenizer needs --init RUN: the trained tokenizer whose features the class head reads")
    train_cfg = TrainConfig(steps=args.steps, lr=args.lr, final_lr=args.final_lr, eval_every=args.eval_every, seed=ddp.rank, ema=args.ema)
    torch.manual_seed(train_cfg.seed)
    model = Tokenizer(cfg)
    if args.init and not resuming:
        new_head = cfg.class_head and (not base.class_head or base.class_scales != cfg.class_scales)
        fresh = [k for k in model.state_dict() if k.startswith("decoder.classes.")] if new_head else []
        checkpoint.load_weights(args.init, model, fresh)
        if fresh and ddp.main:
            print(f"{args.init} has {'a different' if base.class_head else 'no'} class head; the new one starts fresh")
    if args.freeze_tokenizer:
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith("decoder.classes."))
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
