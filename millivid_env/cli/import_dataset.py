"""Import MineRL-v0, VPT or Loopcraft-style episodes into a dataset folder."""
from __future__ import annotations

import argparse
from pathlib import Path

from millivid_env.cli import options
from millivid_env.record.importers import FORMATS, import_dataset
from millivid_env.record.inspect import summary_lines


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("format", choices=sorted(FORMATS))
    p.add_argument("src", help="folder of source episodes")
    p.add_argument("dataset", help="dataset folder to create")
    p.add_argument("--size", type=options.size, default=None, help="resize frames, e.g. 64 (default: keep)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import_dataset(args.format, Path(args.src), Path(args.dataset), size=args.size)
    print("\n".join(summary_lines(Path(args.dataset))))
    return 0
