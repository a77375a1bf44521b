import os

from millivid_env.bench.data_bench import DataBenchConfig, run_data_bench
from millivid_env.record.layout import COMPRESSIONS


def test_data_bench_measures_overhead_codecs_and_loader_in_one_run():
    result = run_data_bench(DataBenchConfig(seconds=0.2, steps=64, repeats=1, episodes=1, frames=64, window=8))
    overhead = result["recording_overhead_64x64"]
    cores = os.cpu_count()
    assert {(f["workers_at_once"], f["render_threads"]) for f in overhead.values()} >= {(cores, 1)}  # as the recipes collect
    assert {k.split(",")[0] for k in overhead} == {"millivid/VoxelWorld-v0", "millivid/VoxelLoop-v0"}
    for figures in overhead.values():
        assert figures["slowdown"] == 1 - figures["recorded_steps_per_second"] / figures["bare_steps_per_second"]
    codecs = result["codecs_on_voxel_frames"]
    assert set(codecs) == set(COMPRESSIONS)
    assert codecs["gzip"]["ratio"] > codecs["none"]["ratio"] and codecs["blosc-lz4"]["ratio"] > 1.5
    loader = result["loader_random_windows"]
    assert loader["frames_per_second"] == loader["windows_per_second"] * 8
    assert loader["loader_vs_training"] == loader["frames_per_second"] / loader["tokenizer_training_frames_per_second"]
    assert loader["loader_vs_training"] > 1  # a random read is far cheaper than a training step
