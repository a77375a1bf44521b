"""Run a benchmark (env, data) and write its figures as JSON."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from millivid_env.bench.data_bench import DataBenchConfig, run_data_bench
from millivid_env.bench.env_bench import EnvBenchConfig, run_env_bench

BENCHES = {"env": (run_env_bench, EnvBenchConfig), "data": (run_data_bench, DataBenchConfig)}


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("which", choices=sorted(BENCHES), help="what to measure")
    p.add_argument("--out", default=None, help="JSON file (default bench/<which>.json)")
    p.add_argument("--seconds", type=float, default=None, help="time budget per measurement")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    fn, config = BENCHES[args.which]
    cfg = config() if args.seconds is None else config(seconds=args.seconds)
    result = fn(cfg)
    out = Path(args.out or f"bench/{args.which}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(out)
    return 0
