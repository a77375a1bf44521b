import shutil

import h5py
import numpy as np
import pytest

from millivid_env.record import layout
from millivid_env.record.inspect import summary_lines
from millivid_env.record.verify import verify_dataset


@pytest.fixture
def dataset_copy(small_dataset, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(small_dataset, out)
    return out


def test_a_whole_dataset_verifies(small_dataset):
    report = verify_dataset(small_dataset)
    assert report.ok and report.episodes == 3 and report.steps == 120


def test_mismatched_lengths_are_reported(dataset_copy):
    with h5py.File(layout.shard_path(dataset_copy, 0), "a") as f:
        f["episode_1"]["rewards"].resize((30,))
    report = verify_dataset(dataset_copy)
    assert not report.ok
    assert any("episode_1" in p and "rewards has 30 rows, expected" in p for p in report.problems)


def test_nan_poses_are_reported(dataset_copy):
    with h5py.File(layout.shard_path(dataset_copy, 0), "a") as f:
        f["episode_2"]["pose"][5, 0] = np.nan
    report = verify_dataset(dataset_copy)
    assert any("episode_2" in p and "pose holds NaN" in p for p in report.problems)


def test_wrong_dtype_is_reported(dataset_copy):
    with h5py.File(layout.shard_path(dataset_copy, 0), "a") as f:
        g = f["episode_0"]
        data = g["obs/block_id"][:]
        del g["obs/block_id"]
        g.create_dataset("obs/block_id", data=data.astype(np.float32))
    assert any("obs/block_id is float32" in p for p in verify_dataset(dataset_copy).problems)


def test_random_bytes_shard_is_reported_by_name_and_nothing_else_changes(dataset_copy):
    bogus = dataset_copy / layout.SHARDS / "shard_1.h5"
    bogus.write_bytes(np.random.default_rng(1).bytes(2048))
    report = verify_dataset(dataset_copy)
    assert any("shard_1.h5: not a readable HDF5 file" in p for p in report.problems)
    assert report.episodes == 3  # the good shard is still read in full


def test_missing_or_foreign_dataset_json(tmp_path):
    report = verify_dataset(tmp_path)
    assert report.problems == [f"{tmp_path}: not a dataset (no dataset.json)"]
    (tmp_path / "dataset.json").write_text("{not json")
    assert "invalid JSON" in verify_dataset(tmp_path).problems[0]


def test_inspect_reports_counts_fields_size_and_revisits(small_dataset):
    text = "\n".join(summary_lines(small_dataset))
    assert "episodes 3 complete" in text and "frames   123 (120 steps)" in text
    for field in ("obs/rgb", "obs/depth", "obs/block_id", "pose", "actions/action", "rewards"):
        assert field in text
    assert "compression" in text and "MiB" in text
