"""`millivid bench sim`: how fast `millivid/Sim-v0` steps, and what its fast sampler costs in quality.

- frames/s of `step` at batch 1 for a few sampler step counts and both context caches (exact:
  computed afresh every frame; incremental: one new frame's a step), and of the vector env at batch
  16, with the process's peak memory after each; the real voxel world's own `step` at the same
  size is timed in the same run as the reference;
- quality: from rendered prompts, the same actions in the simulator and in the true voxel world
  (which the prompt left where it ended); PSNR of each sampler setting against the true frames
  and against the slowest sampler's frames (exact cache, same seeds).
"""
from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from millivid_env.bench.rollout_bench import frame_psnr
from millivid_env.bench.timing import machine, rate

NEVER = 10**9  # a horizon no measurement reaches


@dataclass(frozen=True)
class SimBenchConfig:
    seconds: float = 10.0  # time budget per speed measurement
    sampler_steps: tuple[int, ...] = (1, 2, 3)  # compared at batch 1
    caches: tuple[str, ...] = ("exact", "incremental")  # the context's keys and values (`Stepper`), each with every step count
    vector_batch: int = 16
    vector_steps: int = 2  # sampler steps of the vector env measurements (one per cache)
    prompts: int = 4  # rendered prompts the quality is averaged over
    frames: int = 32  # generated frames per prompt
    slow_steps: int = 10  # the slow sampler the fast ones are compared against
    seed: int = 0


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cycling(n: int, batch: int | None = None):
    """A callable that steps with a fixed cycle of actions (random, seeded)."""
    actions = np.random.default_rng(0).integers(n, size=(64,) if batch is None else (64, batch))
    count = iter(range(10**12))
    return lambda: actions[next(count) % len(actions)]


def speed(sim: Path, cfg: SimBenchConfig) -> dict[str, Any]:
    world = gym.make("millivid/VoxelLoop-v0", size=(64, 64), disable_env_checker=True)
    world.reset(seed=cfg.seed)
    act = cycling(world.action_space.n)
    reference = rate(lambda: world.step(act()), cfg.seconds)
    rows = []
    for cache in cfg.caches:
        for steps in cfg.sampler_steps:
            env = gym.make("millivid/Sim-v0", checkpoint=sim, sampler_steps=steps, cache=cache, horizon=NEVER)
            env.reset(seed=cfg.seed)
            act = cycling(env.action_space.n)
            fps = rate(lambda: env.step(int(act())), cfg.seconds)
            rows.append({"batch": 1, "sampler_steps": steps, "cache": cache, "frames_per_second": round(fps, 2),
                         "vs_voxel_world": round(fps / reference, 6), "peak_mib": round(peak_mib())})
    for cache in cfg.caches:
        envs = gym.make_vec("millivid/Sim-v0", num_envs=cfg.vector_batch, checkpoint=sim, sampler_steps=cfg.vector_steps,
                            cache=cache, horizon=NEVER)
        envs.reset(seed=cfg.seed)
        act = cycling(envs.single_action_space.n, cfg.vector_batch)
        fps = rate(lambda: envs.step(act()), cfg.seconds) * cfg.vector_batch
        rows.append({"batch": cfg.vector_batch, "sampler_steps": cfg.vector_steps, "cache": cache, "frames_per_second": round(fps, 2),
                     "vs_voxel_world": round(fps / reference, 6), "peak_mib": round(peak_mib())})
    return {"voxel_world_frames_per_second": round(reference, 1), "rows": rows}


def quality(sim: Path, cfg: SimBenchConfig) -> dict[str, Any]:
    slow = (cfg.slow_steps, "exact")
    settings = sorted({*((s, c) for s in cfg.sampler_steps for c in cfg.caches), slow})
    frames: dict[tuple[int, str], list[np.ndarray]] = {s: [] for s in settings}
    envs = {s: gym.make("millivid/Sim-v0", checkpoint=sim, sampler_steps=s[0], cache=s[1], horizon=NEVER).unwrapped
            for s in settings}
    truth = []
    rng = np.random.default_rng(cfg.seed)
    for p in tqdm(range(cfg.prompts), desc="sim quality", unit="prompt"):
        actions = rng.integers(3, size=cfg.frames)
        for setting, env in envs.items():
            env.reset(seed=cfg.seed + p)  # the same rendered prompt and sampler seed for every setting
            frames[setting].append(np.stack([env.step(int(a))[0]["pov"] for a in actions]))
        truth.append(np.stack([env.world.step(int(a))[0]["pov"] for a in actions]))  # the last env's world, where its prompt ended
    truth_array, slow_frames = np.stack(truth), np.stack(frames[slow])
    rows = []
    for steps, cache in settings:
        made = np.stack(frames[(steps, cache)])
        rows.append({"sampler_steps": steps, "cache": cache, "psnr_vs_world": round(float(frame_psnr(made, truth_array).mean()), 3),
                     "psnr_vs_slow_sampler": None if (steps, cache) == slow else round(float(frame_psnr(made, slow_frames).mean()), 3)})
    return {"frames": cfg.frames, "prompts": cfg.prompts, "slow_steps": cfg.slow_steps, "slow_cache": slow[1], "rows": rows}


def run_sim_bench(sim: Path, cfg: SimBenchConfig = SimBenchConfig()) -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any] = {"sim": str(sim), "config": asdict(cfg), "machine": machine(), "date": time.strftime("%Y-%m-%d")}
    result["speed"] = speed(sim, cfg)
    result["quality"] = quality(sim, cfg)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result
