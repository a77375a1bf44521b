"""Encode every frame of a dataset into latent pyramids (latents/level_<k>), resumable."""
from __future__ import annotations

import argparse
from pathlib import Path

from millivid_env.cli import options
from millivid_env.models.encode import encode_dataset


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tokenizer", required=True, help="tokenizer run folder")
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--batch", type=options.positive_int, default=256)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = encode_dataset(Path(args.tokenizer), Path(args.data), args.batch)
    print(f"encoded {result['encoded']} episodes; {result['already_done']} already had these latents")
    return 0
