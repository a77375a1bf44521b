"""`millivid bench view`: how fast `millivid view` opens a very long episode and serves its frames.

A 100,000-frame episode is written in the recorded layout (a real VoxelLoop walk's frames, depth
and block ids, cycled; poses walking on), then a viewer server is started on it and asked over
HTTP, as the page asks: the time from nothing to the first frame on screen (start the server,
the dataset, the episode with its track and revisits, the first PNG), then the latency of a frame
when stepping frame by frame (what playback and the arrow keys ask) and when jumping to random
frames (the slider). The reference, measured in the same run: reading one random frame straight
from the HDF5 file with h5py, and the 50 ms a frame has at 20 frames/s.
"""
from __future__ import annotations

import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from millivid_env.bench.timing import machine
from millivid_env.record import layout
from millivid_env.record.writer import EpisodeWriter
from millivid_env.view.server import serve

ENV_ID = "millivid/VoxelLoop-v0"
PLAYBACK_BUDGET_MS = 50.0  # one frame at 20 frames/s


@dataclass(frozen=True)
class ViewBenchConfig:
    frames: int = 100_000  # length of the episode viewed
    walk: int = 512  # real frames recorded, then cycled
    size: int = 64
    stepped: int = 300  # frames requested one after another
    jumps: int = 100  # frames requested at random places
    seed: int = 0


def long_episode(root: Path, cfg: ViewBenchConfig) -> Path:
    """A one-episode dataset of `cfg.frames` frames in the recorded layout, from a real walk."""
    env = gym.make(ENV_ID, size=(cfg.size, cfg.size))
    obs, info = env.reset(seed=cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    rows = []
    for _ in range(cfg.walk):
        rows.append((obs["pov"], info["depth"], info["block_id"], info["pose"]))
        obs, _, _, _, info = env.step(int(rng.integers(3)))
    env.close()
    (root / layout.SHARDS).mkdir(parents=True)
    layout.write_metadata(root, {"name": "long-episode", "env_id": ENV_ID, "recipe": {"env_kwargs": {"size": [cfg.size] * 2}}})
    drift = rows[-1][3] - rows[0][3]  # each cycle walks on from where the last one ended
    with layout.open_shard(layout.shard_path(root, 0), "w") as shard:
        writer = EpisodeWriter(shard, 0, attrs={"seed": cfg.seed, "env_id": ENV_ID, "explorer": "random"})
        for t in tqdm(range(cfg.frames), desc="writing the long episode", unit="frame", mininterval=1.0):
            rgb, depth, block_id, pose = rows[t % cfg.walk]
            if t:
                writer.add_step({f"{layout.ACTIONS}/action": np.int64(t % 3), "rewards": np.float32(0),
                                 "terminations": False, "truncations": False})
            writer.add_frame({layout.RGB: rgb, layout.DEPTH: depth, layout.BLOCK_ID: block_id,
                              layout.POSE: pose + drift * (t // cfg.walk) * np.array([1, 0, 1, 0, 0])})
        writer.finish()
    return root


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url) as response:
        return response.read()


def _ms(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - started) * 1e3


def _spread(values: list[float]) -> dict[str, float]:
    return {"median_ms": round(float(np.median(values)), 2), "p95_ms": round(float(np.percentile(values, 95)), 2)}


def run_view_bench(cfg: ViewBenchConfig = ViewBenchConfig()) -> dict[str, Any]:
    rng = np.random.default_rng(cfg.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = long_episode(Path(tmp) / "long", cfg)
        started = time.perf_counter()
        server = serve(root, [], port=0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = server.url
            opened = {"dataset_ms": _ms(_get, url + "api/dataset")}
            opened["episode_ms"] = _ms(_get, url + "api/episode/0")
            opened["first_frame_ms"] = _ms(_get, url + "api/episode/0/rgb/0.png")
            first_frame = (time.perf_counter() - started) * 1e3
            start = int(rng.integers(cfg.frames - cfg.stepped))
            stepped = [_ms(_get, f"{url}api/episode/0/rgb/{t}.png") for t in
                       tqdm(range(start, start + cfg.stepped), desc="stepping", unit="frame")]
            jumps = [_ms(_get, f"{url}api/episode/0/rgb/{t}.png") for t in
                     tqdm(rng.integers(cfg.frames, size=cfg.jumps), desc="jumping", unit="frame")]
            frame_with_all = [sum(_ms(_get, f"{url}api/episode/0/{field}/{t}.png") for field in ("rgb", "depth", "block_id"))
                              + _ms(_get, f"{url}api/episode/0/step/{t}") for t in range(start, start + cfg.stepped // 3)]
        finally:
            server.shutdown()
            server.server_close()
            server.catalog.close()
        with layout.open_shard(layout.shard_path(root, 0)) as f:
            rgb = f[layout.episode_name(0)][layout.RGB]
            direct = [_ms(rgb.__getitem__, int(t)) for t in rng.integers(cfg.frames, size=cfg.jumps)]
    result = {
        "config": asdict(cfg), "machine": machine(), "date": time.strftime("%Y-%m-%d"),
        "time_to_first_frame_ms": round(first_frame, 1), "opening": {k: round(v, 1) for k, v in opened.items()},
        "frame_stepped": _spread(stepped), "frame_jump": _spread(jumps),
        "frame_stepped_with_depth_blocks_and_step": _spread(frame_with_all),
        "reference_direct_h5py_read": _spread(direct),
        "ratios": {"jump_over_direct_read": round(float(np.median(jumps) / np.median(direct)), 2),
                   "stepped_over_playback_budget": round(float(np.median(stepped)) / PLAYBACK_BUDGET_MS, 3),
                   "all_panels_over_playback_budget": round(float(np.median(frame_with_all)) / PLAYBACK_BUDGET_MS, 3)},
    }
    return result

