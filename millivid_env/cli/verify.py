"""Check a dataset is whole; exit 0 only if every episode is complete and consistent."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from millivid_env.record.verify import verify_dataset


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset folder")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    report = verify_dataset(Path(args.dataset))
    for line in report.truncated + report.problems:
        print(line, file=sys.stderr)
    if report.ok:
        print(f"ok: {report.episodes} episodes, {report.steps:,} steps, every array whole")
        return 0
    print(f"NOT OK: {len(report.truncated)} unfinished episode(s), {len(report.problems)} problem(s)", file=sys.stderr)
    return 1
