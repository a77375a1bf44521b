"""Export a dataset as a Minari dataset folder (OUT/data/main_data.hdf5 + metadata.json)."""
from __future__ import annotations

import argparse
from pathlib import Path

from millivid_env.record.minari_export import export_minari


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset folder")
    p.add_argument("out", help="Minari dataset folder, named as its id (e.g. voxel-revisit-64-v0)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    meta = export_minari(Path(args.dataset), Path(args.out))
    print(f"{args.out}: {meta['total_episodes']} episodes, {meta['total_steps']:,} steps; "
          f"load with MINARI_DATASETS_PATH={Path(args.out).resolve().parent} minari.load_dataset({meta['dataset_id']!r})")
    return 0
