"""`millivid` console script: one subcommand per module in this package."""
from __future__ import annotations

import argparse
import os
import sys

from millivid_env.cli import (
    bench, collect, encode, export_minari, import_dataset, inspect_dataset, play, render, rollout, strategy,
    train_reward, train_sim, train_tokenizer, verify, view, walk,
)
from millivid_env.errors import UserError

COMMANDS = {
    "collect": collect, "inspect": inspect_dataset, "verify": verify,
    "import": import_dataset, "export-minari": export_minari,
    "train-tokenizer": train_tokenizer, "encode": encode, "train-sim": train_sim,
    "train-reward": train_reward,
    "render": render, "walk": walk, "play": play, "bench": bench,
    "strategy": strategy, "rollout": rollout, "view": view,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="millivid", description="MilliVid world-model toolkit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.add_parser(sub.add_parser(name, help=module.__doc__.strip().splitlines()[0]))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except UserError as e:  # what the user passed in; anything else is a bug and keeps its traceback
        if os.environ.get("MILLIVID_DEBUG"):
            raise
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"millivid {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"millivid {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
