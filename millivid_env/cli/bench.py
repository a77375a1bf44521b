"""Run a benchmark (env, data, tokenizer, rollout, revisit, sim, view) and write its figures as JSON."""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from millivid_env.bench.data_bench import DataBenchConfig, run_data_bench
from millivid_env.bench.env_bench import EnvBenchConfig, run_env_bench
from millivid_env.bench.revisit_bench import PROTOCOLS, run_revisit_bench
from millivid_env.bench.rollout_bench import RolloutBenchConfig, plot_rollout_bench, run_rollout_bench
from millivid_env.bench.sim_bench import SimBenchConfig, run_sim_bench
from millivid_env.bench.tokenizer_bench import run_tokenizer_bench
from millivid_env.bench.view_bench import run_view_bench
from millivid_env.errors import UserError
from millivid_env.sim.simulation import DEFAULT_CHECKPOINT

TIMED = {"env": (run_env_bench, EnvBenchConfig), "data": (run_data_bench, DataBenchConfig)}


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("which", choices=sorted([*TIMED, "tokenizer", "rollout", "revisit", "sim", "view"]), help="what to measure")
    p.add_argument("--out", default=None, help="JSON file (default bench/<which>.json; revisit: a report folder)")
    p.add_argument("--seconds", type=float, default=None, help="time budget per measurement (env, data)")
    p.add_argument("--tokenizer", help="tokenizer run folder (tokenizer)")
    p.add_argument("--compare", nargs="*", default=(), help="more tokenizer runs measured side by side (tokenizer)")
    p.add_argument("--data", help="held-out dataset with block ids (tokenizer) or encoded with poses (rollout)")
    p.add_argument("--sim", help="trained simulator run (rollout; sim, default the shipped checkpoint)")
    p.add_argument("--sims", nargs="*", default=(), help="simulator runs compared side by side, each with its strategy (revisit)")
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default="quick",
                   help="revisit: quick (64 + 192 frames), paper (256 + 768) or loopnav (the way out, then the way back)")
    p.add_argument("--episodes", type=int, default=RolloutBenchConfig.episodes, help="held-out episodes (rollout)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.which == "revisit":
        if not (args.sims and args.data):
            raise UserError("bench revisit needs --sims RUN [RUN ...] and --data DATASET")
        cfg = dataclasses.replace(PROTOCOLS[args.protocol], episodes=args.episodes)
        report = Path(args.out or "bench/revisit")
        result = run_revisit_bench([Path(s) for s in args.sims], Path(args.data), report, cfg)
        print((report / "report.md").read_text())
        return 0
    out = Path(args.out or f"bench/{args.which}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.which == "tokenizer":
        if not (args.tokenizer and args.data):
            raise UserError("bench tokenizer needs --tokenizer RUN and --data DATASET")
        result = run_tokenizer_bench(Path(args.tokenizer), Path(args.data), out, tuple(Path(c) for c in args.compare))
        print(result["table"])
    elif args.which == "rollout":
        if not (args.sim and args.data):
            raise UserError("bench rollout needs --sim RUN and --data DATASET")
        result = run_rollout_bench(Path(args.sim), Path(args.data), RolloutBenchConfig(episodes=args.episodes))
        print(plot_rollout_bench(result, out.with_suffix(".png")))
    elif args.which == "sim":
        cfg = SimBenchConfig() if args.seconds is None else SimBenchConfig(seconds=args.seconds)
        result = run_sim_bench(Path(args.sim) if args.sim else DEFAULT_CHECKPOINT, cfg)
        print(json.dumps(result["speed"], indent=2))
    elif args.which == "view":
        result = run_view_bench()
        print(json.dumps({k: result[k] for k in ("time_to_first_frame_ms", "frame_stepped", "frame_jump", "ratios")}, indent=2))
    else:
        fn, config = TIMED[args.which]
        result = fn(config() if args.seconds is None else config(seconds=args.seconds))
        print(json.dumps(result, indent=2))
    out.write_text(json.dumps(result, indent=2))
    print(out)
    return 0
