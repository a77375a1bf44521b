import re
import signal
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pytest

from millivid_env.errors import UserError
from millivid_env.record import layout
from millivid_env.record.collect import collect
from millivid_env.record.verify import verify_dataset
from tests.conftest import small_recipe, write_recipe


def test_collect_writes_every_episode_once_with_its_frames(small_dataset):
    refs = layout.episode_refs(small_dataset)
    assert [layout.episode_index(r.name) for r in refs] == [0, 1, 2]
    assert all(r.complete and r.steps == 40 for r in refs)
    meta = layout.read_metadata(small_dataset)
    assert meta["status"] == "complete" and meta["total_episodes"] == 3 and meta["total_steps"] == 120
    assert meta["recipe"]["seed"] == 7 and meta["env_id"] == "millivid/VoxelLoop-v0"
    assert verify_dataset(small_dataset).ok


def test_two_workers_write_two_shards_and_the_same_episodes(tmp_path, small_dataset):
    out = tmp_path / "two"
    collect(small_recipe(workers=2), out)
    assert len(layout.shard_paths(out)) == 2
    for a, b in zip(layout.episode_refs(out), layout.episode_refs(small_dataset)):
        with layout.open_shard(a.shard) as fa, layout.open_shard(b.shard) as fb:
            assert np.array_equal(fa[a.name]["obs/rgb"][:], fb[b.name]["obs/rgb"][:])  # episode e depends on seed + e only


def test_collecting_into_an_existing_dataset_needs_resume(small_dataset):
    with pytest.raises(UserError, match="already holds a dataset; pass --resume"):
        collect(small_recipe(), small_dataset)


def test_resume_adds_episodes_without_touching_finished_ones(tmp_path):
    out = tmp_path / "grow"
    collect(small_recipe(episodes=2), out)
    with layout.open_shard(layout.shard_path(out, 0)) as f:
        before = f["episode_1"]["obs/rgb"][:]
    collect(small_recipe(episodes=4), out, resume=True)
    refs = layout.episode_refs(out)
    assert len(refs) == 4 and all(r.complete for r in refs)
    with layout.open_shard(layout.shard_path(out, 0)) as f:
        assert np.array_equal(f["episode_1"]["obs/rgb"][:], before)


def test_unknown_env_in_a_recipe_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="unknown env id 'millivid/Nope-v0'"):
        collect(small_recipe(env="millivid/Nope-v0"), tmp_path / "x")


def test_an_info_key_the_env_lacks_is_one_clear_error_before_any_worker_starts(tmp_path):
    with pytest.raises(UserError, match=r"the env's info has no 'nope' \(it has \[.*'pose'.*\]\)"):
        collect(small_recipe(workers=2, info_keys=("pose", "nope")), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def _progress_reader(stream, seen: list[str]) -> None:
    for chunk in iter(lambda: stream.read(64), b""):
        seen.append(chunk.decode(errors="replace"))


def test_sigkill_mid_episode_then_verify_then_resume(tmp_path):
    recipe = write_recipe(tmp_path / "r.toml", episodes=3, frames=1500)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "millivid_env.cli.main", "collect", str(recipe), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: list[str] = []
    threading.Thread(target=_progress_reader, args=(proc.stderr, seen), daemon=True).start()
    deadline = time.time() + 60
    def frames_done() -> int:
        return max((int(n) for n in re.findall(r"(\d+)/4500", "".join(seen))), default=0)

    while frames_done() < 1600 and time.time() < deadline:
        time.sleep(0.02)  # wait until the second episode is under way
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    report = verify_dataset(out)
    assert not report.ok and report.episodes == 1 and len(report.truncated) == 1
    assert "episode_1: unfinished" in report.truncated[0]
    with h5py.File(layout.shard_path(out, 0)) as f:  # the file opens and flushed blocks are whole
        survived = layout.episode_steps(f["episode_1"])
        assert survived >= 7 and (survived + 1) % 8 == 0  # whole chunks of 8 frames
        assert f["episode_1"]["obs/rgb"][survived].any()
    result = subprocess.run([*cmd, "--resume"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = verify_dataset(out)
    assert report.ok and report.episodes == 3 and report.steps == 3 * 1500


@pytest.mark.slow
def test_ray_runs_the_same_recipe(tmp_path):
    pytest.importorskip("ray")
    import ray

    out = tmp_path / "ray"
    try:
        collect(small_recipe(workers=2), out, ray_address="local")
    finally:
        ray.shutdown()
    assert verify_dataset(out).ok and len(layout.shard_paths(out)) == 2


@pytest.mark.slow
def test_ten_thousand_frame_episode_keeps_memory_flat(tmp_path):
    import tracemalloc

    import gymnasium as gym

    from millivid_env.record.recorder import Recorder

    env = gym.make("millivid/VoxelLoop-v0", size=(64, 64), world_seed=3)
    with h5py.File(tmp_path / "long.h5", "w") as f:
        rec = Recorder(env, f)
        rec.reset(seed=0)
        rng = np.random.default_rng(0)
        tracemalloc.start()
        for i in range(10_000):
            rec.step(int(rng.integers(3)))
            if i == 1_000:
                tracemalloc.reset_peak()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rec.close()
        assert f["episode_0"]["obs/rgb"].shape == (10_001, 64, 64, 3)
    frame_bytes = 64 * 64 * (3 + 4 + 1)
    assert peak < 200 * frame_bytes  # a few blocks of 64 frames, never the episode (10,000 frames)
