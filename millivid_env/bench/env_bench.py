"""`millivid bench env`: VoxelWorld speed against Crafter measured in the same run."""
from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import numba

from millivid_env.bench.timing import busy_cores, machine, rate
from millivid_env.envs.actions import HOLD_TICKS, MACRO_ACTIONS, macro_tick_action
from millivid_env.envs.make import make_env
from millivid_env.errors import UserError
from millivid_env.world import Camera, World

TARGET_64_VS_CRAFTER = 3.0
TARGET_256_VS_CRAFTER = 0.5
BATCH = 16


@dataclass(frozen=True)
class EnvBenchConfig:
    seconds: float = 5.0  # wall-clock budget per measurement (at least one round of walks)
    seed: int = 0
    worlds: int = 4  # VoxelWorld speeds: one walk in each of these worlds (seeds seed, seed + 1, ...)
    walk_ticks: int = 1024  # game ticks per walk (VoxelLoop walks hold each macro for its 9 ticks)


def cycling(actions: list[Any], act: Callable[[Any], object]) -> Callable[[], None]:
    """A closure feeding pre-drawn actions to `act` in a loop, so policy cost stays out of the figure."""
    it = itertools.cycle(actions)
    return lambda: act(next(it))


def walking_macros(n: int, seed: int) -> list[int]:
    """Macro actions of a random walk (70% forward+jump, 15% each turn), as collection produces."""
    return [int(m) for m in np.random.default_rng(seed).choice(len(MACRO_ACTIONS), n, p=[0.7, 0.15, 0.15])]


def walking_actions(n: int, seed: int) -> list[dict[str, Any]]:
    """Per-tick Dict actions of the same walk, each macro held for its ticks."""
    return [macro_tick_action(m) for m in walking_macros(n // HOLD_TICKS + 1, seed) for _ in range(HOLD_TICKS)][:n]


def voxel_steps_per_second(env_id: str, size: tuple[int, int], cfg: EnvBenchConfig) -> float:
    """Steps/s over whole walks from reset in `cfg.worlds` worlds, repeated until `cfg.seconds`.

    Whole walks, not a time budget over one endless walk: a frame's cost depends on the view (a
    wall 1 ms, open country 5 ms at 256x256), so a faster env must not be timed on a different
    stretch of the walk than a slower one.
    """
    macro_steps = env_id.endswith("VoxelLoop-v0")
    # One env per world: a reset with the same seed only copies the generated world.
    walks = [(seed, make_env(env_id, size=size).unwrapped,
              walking_macros(cfg.walk_ticks // HOLD_TICKS, seed) if macro_steps else walking_actions(cfg.walk_ticks, seed))
             for seed in range(cfg.seed, cfg.seed + cfg.worlds)]
    for seed, env, actions in walks:
        env.reset(seed=seed)
        env.step(actions[0])  # generate and compile before timing
    steps, elapsed = 0, 0.0
    while steps == 0 or elapsed < cfg.seconds:
        for seed, env, actions in walks:
            env.reset(seed=seed)
            start = time.perf_counter()
            for action in actions:
                env.step(action)
            elapsed += time.perf_counter() - start
            steps += len(actions)
    return steps / elapsed


def shared_cpu_steps_per_second(size: tuple[int, int], idle: float, cfg: EnvBenchConfig) -> dict[str, float]:
    """VoxelWorld steps/s with every core busy running another process, beside its `idle` rate
    measured in the same run, against the goal for the busy case: the one-thread rate times the
    share of the CPU the env gets."""
    cores = os.cpu_count() or 1
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one_thread = voxel_steps_per_second("millivid/VoxelWorld-v0", size, cfg)
    finally:
        numba.set_num_threads(threads)
    with busy_cores(cores):
        busy = voxel_steps_per_second("millivid/VoxelWorld-v0", size, cfg)
    share = cores / (cores + 1)  # the env is one of cores + 1 busy processes
    return {"idle": idle, "one_thread_idle": one_thread, "busy": busy, "busy_processes": cores,
            "cpu_share": share, "busy_goal": one_thread * share, "busy_vs_goal": busy / (one_thread * share)}


def batch_frames_per_second(cfg: EnvBenchConfig) -> float:
    """Frames/s rendering BATCH different worlds together in one kernel call."""
    worlds = [World.generate(cfg.seed + i) for i in range(BATCH)]
    blocks = np.stack([w.blocks for w in worlds])
    cubes, sky = np.stack([w.cubes for w in worlds]), np.stack([w.sky for w in worlds])
    rng = np.random.default_rng(cfg.seed)
    poses = np.array([[*w.spawn_point(rng), 0.0, 0.0] for w in worlds])
    camera = Camera(size=(64, 64))

    def render() -> None:
        poses[:, 3] += 7.0
        camera.render(blocks, cubes, sky, poses)

    return BATCH * rate(render, cfg.seconds)


def crafter_steps_per_second(cfg: EnvBenchConfig) -> float:
    try:
        import crafter
    except ImportError:
        raise UserError("the reference needs Crafter: pip install 'millivid-env[dev]' (or pip install crafter)") from None
    env = crafter.Env(size=(64, 64), seed=cfg.seed)
    env.reset()
    actions = list(np.random.default_rng(cfg.seed).integers(0, env.action_space.n, 512))

    def step(action: int) -> None:
        if env.step(action)[2]:
            env.reset()

    return rate(cycling(actions, step), cfg.seconds)


def run_env_bench(cfg: EnvBenchConfig = EnvBenchConfig()) -> dict[str, Any]:
    crafter = crafter_steps_per_second(cfg)
    voxel64 = voxel_steps_per_second("millivid/VoxelWorld-v0", (64, 64), cfg)
    voxel256 = voxel_steps_per_second("millivid/VoxelWorld-v0", (256, 256), cfg)
    loop64 = voxel_steps_per_second("millivid/VoxelLoop-v0", (64, 64), cfg)
    batch = batch_frames_per_second(cfg)
    shared = {f"{h}x{w}": shared_cpu_steps_per_second((h, w), idle, cfg) for (h, w), idle in (((64, 64), voxel64), ((256, 256), voxel256))}
    return {
        "machine": machine(),
        "seconds_per_measurement": cfg.seconds,
        "voxel_walks": {"worlds": cfg.worlds, "ticks_per_walk": cfg.walk_ticks, "policy": "70% forward+jump, 15% each turn"},
        "steps_per_second": {
            "crafter_64": crafter,
            "voxel_world_64": voxel64,
            "voxel_world_256": voxel256,
            "voxel_loop_64 (9 ticks per step)": loop64,
        },
        "batch16_frames_per_second_64": batch,
        "voxel_world_shared_cpu": shared,
        "ratios_vs_crafter_64": {
            "voxel_world_64": voxel64 / crafter,
            "voxel_world_256": voxel256 / crafter,
            "batch16_64": batch / crafter,
        },
        "targets": {
            "voxel_world_64 >= 3x crafter": voxel64 / crafter >= TARGET_64_VS_CRAFTER,
            "voxel_world_256 >= 0.5x crafter": voxel256 / crafter >= TARGET_256_VS_CRAFTER,
            **{f"voxel_world_{k} busy >= one thread x CPU share": v["busy_vs_goal"] >= 1.0 for k, v in shared.items()},
        },
    }
