"""Browse a dataset's episodes and rollouts in a local web page (frames, map, actions, scores)."""
from __future__ import annotations

import argparse
from pathlib import Path

from millivid_env.cli import options
from millivid_env.view.server import serve

DEFAULT_PORT = 8765


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", type=Path, help="dataset folder (`millivid collect`); read only, never written")
    p.add_argument("--rollouts", type=Path, nargs="*", default=[],
                   help="folders written by `millivid rollout` or `millivid bench revisit` (or holding such folders)")
    p.add_argument("--port", type=options.port, default=DEFAULT_PORT, help="local port (0 picks a free one)")
    p.add_argument("--revisit-context", type=options.positive_int, default=None,
                   help="frames counted as the context when marking revisits (default: the rollouts' context, else 256)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    server = serve(args.data, args.rollouts, args.port, args.revisit_context)
    print(f"millivid view: serving {args.data} at {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        server.catalog.close()
    return 0
