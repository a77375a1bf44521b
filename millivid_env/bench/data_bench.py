"""`millivid bench data`: recording overhead, write speed and compression by codec, loader reads."""
from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np

from millivid_env.bench.env_bench import walking_actions
from millivid_env.bench.tokenizer_bench import training_frames_per_second
from millivid_env.bench.timing import machine
from millivid_env.data.windows import WindowDataset
from millivid_env.envs.make import make_env
from millivid_env.record import layout
from millivid_env.record.collect import collect, render_threads
from millivid_env.record.recipe import ExplorerSpec, Recipe
from millivid_env.record.recorder import Recorder
from millivid_env.record.writer import EpisodeWriter

TARGET_RECORDING_SLOWDOWN = 0.15


@dataclass(frozen=True)
class DataBenchConfig:
    seconds: float = 5.0  # per measurement
    steps: int = 2000  # env steps per recording measurement
    repeats: int = 5  # alternating bare/recorded runs per setting; medians are reported
    window: int = 16
    episodes: int = 2  # of the dataset the codecs and the loader are measured on
    frames: int = 512
    seed: int = 0


def overhead_runs(env_id: str, cfg: DataBenchConfig, folder: Path, workers: int, worker: int = 0, barrier: Any = None) -> list[tuple[float, float]]:
    """(bare, recorded) steps/s of alternating runs, same actions, rendering with the threads one of
    `workers` collection workers gets; `barrier` starts each run with the other workers' runs."""
    previous = numba.get_num_threads()
    numba.set_num_threads(render_threads(workers))
    try:
        return _alternating_runs(env_id, cfg, folder, workers, worker, barrier)
    finally:
        numba.set_num_threads(previous)


def _alternating_runs(env_id: str, cfg: DataBenchConfig, folder: Path, workers: int, worker: int, barrier: Any) -> list[tuple[float, float]]:
    env = make_env(env_id).unwrapped
    seed = cfg.seed + worker
    # VoxelLoop: uniform macros, as the earlier figures; a 70%-forward walk soon stares at a
    # wall, whose cheap frames would make recording look dearer than on collected walks.
    actions = walking_actions(cfg.steps, seed) if "VoxelWorld" in env_id else [int(a) for a in np.random.default_rng(seed).integers(0, 3, cfg.steps)]

    def run(target) -> float:
        target.reset(seed=seed)
        if barrier is not None:
            barrier.wait()
        start = time.perf_counter()
        for a in actions:
            target.step(a)
        return len(actions) / (time.perf_counter() - start)

    run(env)  # warm-up: compile, generate the world once
    rates = []
    for repeat in range(cfg.repeats):
        bare = run(env)
        with layout.open_shard(folder / f"overhead-{env_id.split('/')[-1]}-{workers}-{worker}-{repeat}.h5", "w") as shard:
            rates.append((bare, run(Recorder(env, shard))))
    return rates


def _overhead_worker(env_id: str, cfg: DataBenchConfig, folder: Path, workers: int, worker: int, barrier: Any, results: Any) -> None:
    try:
        results.put((worker, overhead_runs(env_id, cfg, folder, workers, worker, barrier)))
    except BaseException as e:  # the parent waits on the queue: always answer, and free the others
        barrier.abort()
        results.put((worker, f"{type(e).__name__}: {e}"))


def recording_overhead(env_id: str, cfg: DataBenchConfig, folder: Path, workers: int) -> dict[str, float]:
    """Steps/s of the bare env and of the same env under the Recorder (default codec), summed over
    `workers` processes stepping at once as `collect` runs them (medians of alternating runs)."""
    if workers == 1:
        rates = [overhead_runs(env_id, cfg, folder, 1)]
    else:
        ctx = multiprocessing.get_context("spawn")
        barrier, results = ctx.Barrier(workers), ctx.Queue()
        procs = [ctx.Process(target=_overhead_worker, args=(env_id, cfg, folder, workers, w, barrier, results)) for w in range(workers)]
        for proc in procs:
            proc.start()
        answers = sorted((results.get() for _ in procs), key=lambda a: a[0])
        for proc in procs:
            proc.join()
        failed = [f"worker {w}: {rows}" for w, rows in answers if isinstance(rows, str)]
        if failed:
            raise RuntimeError(f"recording overhead of {env_id}: {'; '.join(failed)}")
        rates = [rows for _, rows in answers]
    bare = statistics.median(sum(r[i][0] for r in rates) for i in range(cfg.repeats))
    recorded = statistics.median(sum(r[i][1] for r in rates) for i in range(cfg.repeats))
    return {"workers_at_once": workers, "render_threads": render_threads(workers),
            "bare_steps_per_second": bare, "recorded_steps_per_second": recorded, "slowdown": 1 - recorded / bare}


def codec_table(dataset: Path, cfg: DataBenchConfig, folder: Path) -> dict[str, dict[str, float]]:
    """Write one recorded episode's arrays with each codec, as the recorder does; MB/s and ratio."""
    ref = layout.episode_refs(dataset)[0]
    with layout.open_shard(ref.shard) as f:
        group = f[ref.name]
        frames = {p: group[p][: ref.steps + 1] for p in layout.frame_paths(group)}
        steps = {p: group[p][: ref.steps] for p in layout.action_paths(group) + list(layout.STEP_FIELDS)}
    raw = sum(a.nbytes for a in (*frames.values(), *steps.values()))
    table = {}
    for codec in layout.COMPRESSIONS:
        path = folder / f"codec-{codec}.h5"
        with layout.open_shard(path, "w") as shard:
            start = time.perf_counter()
            writer = EpisodeWriter(shard, 0, compression=codec)
            writer.add_frame({p: a[0] for p, a in frames.items()})
            for t in range(ref.steps):
                writer.add_step({p: a[t] for p, a in steps.items()})
                writer.add_frame({p: a[t + 1] for p, a in frames.items()})
            writer.finish()
            seconds = time.perf_counter() - start
        table[codec] = {"write_mb_per_second": raw / 1e6 / seconds, "ratio": raw / path.stat().st_size}
    return table


def loader_rate(dataset: Path, cfg: DataBenchConfig) -> dict[str, float]:
    windows = WindowDataset(dataset, cfg.window, split="all", fields=("rgb", "actions", "pose"))
    rng = np.random.default_rng(cfg.seed)
    reads, start = 0, time.perf_counter()
    while time.perf_counter() - start < cfg.seconds:
        windows[int(rng.integers(len(windows)))]
        reads += 1
    per_second = reads / (time.perf_counter() - start)
    # The reference: what default-config tokenizer training consumes, measured here and now.
    training = training_frames_per_second(dataset, cfg.seconds)
    return {
        "windows_per_second": per_second,
        "frames_per_second": per_second * cfg.window,
        "tokenizer_training_frames_per_second": training,
        "loader_vs_training": per_second * cfg.window / training,
    }


def run_data_bench(cfg: DataBenchConfig = DataBenchConfig()) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recipe = Recipe(env="millivid/VoxelLoop-v0", episodes=cfg.episodes, frames=cfg.frames, seed=cfg.seed, name="bench",
                        explorers=(ExplorerSpec("revisit"),))
        collect(recipe, folder / "dataset")
        # One process rendering on every core, and one worker per core as the recipes collect:
        # both are ways people record.
        overhead = {}
        for env_id in ("millivid/VoxelWorld-v0", "millivid/VoxelLoop-v0"):
            for workers in sorted({1, os.cpu_count() or 1}):
                row = recording_overhead(env_id, cfg, folder, workers)
                overhead[f"{env_id}, {workers} worker{'s' if workers > 1 else ''} x {row['render_threads']} render thread(s)"] = row
        codecs = codec_table(folder / "dataset", cfg, folder)
        loader = loader_rate(folder / "dataset", cfg)
    return {
        "machine": machine(),
        "recording_overhead_64x64": overhead,
        "codecs_on_voxel_frames": codecs,
        "loader_random_windows": {"window": cfg.window, **loader},
        "targets": {f"{k} slowdown <= 15%": v["slowdown"] <= TARGET_RECORDING_SLOWDOWN for k, v in overhead.items()},
    }
