"""Collection: run a recipe's episodes on worker processes (or a Ray cluster), one shard each."""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import time
from pathlib import Path
from typing import Any, Callable

import numba
from gymnasium.wrappers import TimeLimit
from tqdm import tqdm

from millivid_env.agents import make_explorer
from millivid_env.envs.make import make_env
from millivid_env.errors import UserError
from millivid_env.record import layout
from millivid_env.record.recipe import Recipe
from millivid_env.record.recorder import FrameSource, Recorder

PROGRESS_EVERY = 64  # frames between progress messages (and orphan checks) from a worker


def render_threads(workers: int) -> int:
    """Render threads per collection worker: workers share the cores rather than each taking all."""
    return max(1, min(numba.config.NUMBA_NUM_THREADS, (os.cpu_count() or 1) // workers))


def record_worker(recipe_dict: dict[str, Any], out: str, worker: int, episodes: list[int], progress: Any,
                  parent_pid: int | None = None) -> int:
    """Record `episodes` into shard `worker` of `out`; report frame counts through `progress`.

    A worker whose parent died (SIGKILL of `millivid collect`) stops at its next report rather
    than writing on unsupervised; the unfinished episode is re-recorded by `collect --resume`.
    """
    import millivid_env  # noqa: F401  (registers envs in spawned processes)

    recipe = Recipe.from_dict(recipe_dict)
    numba.set_num_threads(render_threads(recipe.workers))
    env = TimeLimit(make_env(recipe.env, **recipe.env_kwargs), max_episode_steps=recipe.frames)
    frames = 0
    with layout.open_shard(layout.shard_path(Path(out), worker), "a") as shard:
        recorder = Recorder(env, shard, recipe.block, recipe.compression, recipe.info_keys)
        for episode in episodes:
            spec = recipe.explorer_for(episode)
            explorer = make_explorer(spec.name, env.action_space, seed=recipe.seed + episode, **spec.kwargs)
            recorder.next_episode = episode
            recorder.episode_attrs = {"explorer": spec.name, "env_id": recipe.env}
            obs, info = recorder.reset(seed=recipe.seed + episode)
            done, pending = False, 0
            while not done:
                obs, _, terminated, truncated, info = recorder.step(explorer.act(obs, info))
                done, pending = terminated or truncated, pending + 1
                if pending == PROGRESS_EVERY or done:
                    if parent_pid is not None and os.getppid() != parent_pid:
                        os._exit(1)
                    progress.put(pending)
                    frames, pending = frames + pending, 0
        recorder.close()
    return frames


def plan(recipe: Recipe, out: Path) -> list[int]:
    """Episodes still to record. Unfinished episodes are removed first; complete ones stay."""
    todo = set(range(recipe.episodes))
    for path in layout.shard_paths(out):
        try:
            shard = layout.open_shard(path, "a")
        except UserError:
            # Keep the bytes (never destroy data) and re-record whatever that shard held.
            aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
            path.rename(aside)
            print(f"warning: {path} is unreadable; moved to {aside.name}, its episodes will be recorded again")
            continue
        with shard:
            for name in list(shard):
                if not name.startswith(layout.EPISODE_PREFIX):
                    continue
                index = layout.episode_index(name)
                if shard[name].attrs.get("complete", False) and index in todo:
                    todo.discard(index)
                else:
                    del shard[name]  # unfinished (or a duplicate): recorded again from its seed
    return sorted(todo)


def run_local(jobs: list[tuple], on_progress: Callable[[int], None]) -> None:
    if len(jobs) == 1:  # no process to spawn: record here
        class Direct:
            put = staticmethod(on_progress)
        record_worker(*jobs[0], Direct())
        return
    ctx = mp.get_context("spawn")
    progress = ctx.Queue()
    procs = [ctx.Process(target=record_worker, args=(*job, progress, os.getpid()), daemon=True) for job in jobs]
    for p in procs:
        p.start()
    _drain(progress, on_progress, lambda: any(p.is_alive() for p in procs))
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} collection worker(s) failed (exit codes {failed}); rerun with --resume")


def run_ray(jobs: list[tuple], on_progress: Callable[[int], None], address: str) -> None:
    try:
        import ray
        from ray.util.queue import Queue
    except ImportError:
        raise UserError("--ray needs Ray: pip install 'millivid-env[dist]'") from None
    if not ray.is_initialized():
        ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False)
    progress = Queue()
    remote = ray.remote(record_worker)
    refs = [remote.remote(*job, progress) for job in jobs]
    unfinished = list(refs)

    def running() -> bool:
        nonlocal unfinished
        _, unfinished = ray.wait(unfinished, timeout=0, num_returns=len(unfinished))
        return bool(unfinished)

    _drain(progress, on_progress, running)
    ray.get(refs)  # re-raises a worker's error here


def _drain(progress: Any, on_progress: Callable[[int], None], running: Callable[[], bool]) -> None:
    """Forward progress messages until every worker has finished and the queue is empty."""
    while True:
        try:
            on_progress(progress.get(timeout=0.2))
        except queue.Empty:  # Ray's queue raises a subclass of it
            if not running():
                break
    while True:
        try:
            on_progress(progress.get(timeout=0.05))
        except queue.Empty:
            return


def describe_env(recipe: Recipe) -> dict[str, Any]:
    """The env's id, spec and spaces for dataset.json. Fails here, once, rather than in every
    worker, on an unknown id, bad kwargs, or info keys the env does not give (one reset, ~0.3 s)."""
    env = make_env(recipe.env, **recipe.env_kwargs)
    try:
        obs, info = env.reset(seed=recipe.seed)
        FrameSource(obs, recipe.info_keys).values(obs, info)
        return {"env_id": recipe.env, "env_spec": env.spec.to_json() if env.spec else None,
                "observation_space": str(env.observation_space), "action_space": str(env.action_space)}
    finally:
        env.close()


def counts(out: Path) -> dict[str, int]:
    complete = [r for r in layout.episode_refs(out) if r.complete]
    return {"total_episodes": len(complete), "total_steps": sum(r.steps for r in complete)}


def resume_recipe(out: Path, **overrides: Any) -> Recipe:
    """The recipe an interrupted dataset was started with; more episodes or other workers may be asked."""
    recipe = Recipe.from_dict(layout.read_metadata(out)["recipe"])
    for key in ("frames", "seed"):
        if overrides.get(key) not in (None, getattr(recipe, key)):
            raise UserError(f"{out} was collected with {key}={getattr(recipe, key)}; --resume cannot change it")
    return recipe.override(episodes=overrides.get("episodes"), workers=overrides.get("workers"))


def collect(recipe: Recipe, out: Path, resume: bool = False, ray_address: str | None = None) -> dict[str, Any]:
    """Record every episode of `recipe` into dataset folder `out` with one tqdm bar for all workers."""
    out = Path(out)
    if (out / layout.DATASET_JSON).exists() and not resume:
        raise UserError(f"{out} already holds a dataset; pass --resume to finish it or choose another --out")
    described = describe_env(recipe)
    (out / layout.SHARDS).mkdir(parents=True, exist_ok=True)
    meta = {"name": recipe.name, "dataset_id": f"{recipe.name}-v0", **described, "recipe": recipe.to_dict()}
    layout.write_metadata(out, {**meta, **counts(out), "status": "collecting"})
    todo = plan(recipe, out)
    jobs = [(recipe.to_dict(), str(out), w, todo[w::recipe.workers]) for w in range(recipe.workers) if todo[w::recipe.workers]]
    with tqdm(total=len(todo) * recipe.frames, desc=f"collect {recipe.name}", unit="frame", smoothing=0.05) as bar:
        if ray_address:
            run_ray(jobs, bar.update, ray_address)
        elif jobs:
            run_local(jobs, bar.update)
    meta = {**meta, **counts(out), "status": "complete"}
    layout.write_metadata(out, meta)
    return meta
