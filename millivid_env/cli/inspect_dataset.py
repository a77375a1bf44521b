"""Summarise a dataset: episodes, frames, fields, size on disk, compression, revisits."""
from __future__ import annotations

import argparse
from pathlib import Path

from millivid_env.record.inspect import summary_lines


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset folder")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print("\n".join(summary_lines(Path(args.dataset))))
    return 0
