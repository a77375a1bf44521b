import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from millivid_env.data.windows import WindowDataset, split_of
from millivid_env.record import layout


def test_windows_hold_consecutive_frames_actions_and_poses(small_dataset):
    windows = WindowDataset(small_dataset, window=8, split="all", stride=4)
    assert len(windows) == 3 * ((40 - 8) // 4 + 1)
    item = windows[10]
    ref, start = windows.locate(10)
    with layout.open_shard(ref.shard) as f:
        g = f[ref.name]
        assert np.array_equal(item["rgb"].numpy(), g["obs/rgb"][start:start + 8])
        assert np.array_equal(item["actions/action"].numpy(), g["actions/action"][start:start + 8])
        assert np.allclose(item["pose"].numpy(), g["pose"][start:start + 8])
    assert item["rgb"].dtype == torch.uint8 and item["pose"].dtype == torch.float32
    with pytest.raises(IndexError):
        windows[len(windows)]


def test_fields_take_a_group_or_a_single_path(small_dataset):
    one = WindowDataset(small_dataset, window=2, split="all", fields=("rgb", "obs/block_id"))[0]
    group = WindowDataset(small_dataset, window=2, split="all", fields=("obs",))[0]
    assert {"rgb", "obs/block_id"} <= set(one) and "obs/depth" not in one and "pose" not in one
    assert {"obs/block_id", "obs/depth"} <= set(group) and "rgb" not in group


def test_multi_worker_loader_reads_every_window_once(small_dataset):
    windows = WindowDataset(small_dataset, window=4, split="all", stride=9, fields=("rgb",))
    loader = DataLoader(windows, batch_size=2, num_workers=2, shuffle=False)
    starts = [(int(e), int(s)) for batch in loader for e, s in zip(batch["episode"], batch["start"])]
    assert sorted(starts) == sorted(set(starts)) and len(starts) == len(windows)


def test_split_is_deterministic_and_disjoint(small_dataset):
    names = [f"episode_{i}" for i in range(2000)]
    splits = [split_of(n) for n in names]
    assert splits == [split_of(n) for n in names]
    share = {s: splits.count(s) / len(names) for s in ("train", "val", "test")}
    assert 0.85 < share["train"] < 0.95 and 0.03 < share["val"] < 0.07 and 0.03 < share["test"] < 0.07
    parts = [{(w["episode"], w["start"]) for w in WindowDataset(small_dataset, 8, split=s, stride=8)} for s in ("train", "val", "test")]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2])


def test_explorer_filter_keeps_only_the_named_explorers_episodes(small_dataset):
    assert {r.explorer for r in layout.episode_refs(small_dataset)} == {"revisit"}
    every = WindowDataset(small_dataset, 8, split="all", stride=8)
    assert len(WindowDataset(small_dataset, 8, split="all", stride=8, explorers=("random", "revisit"))) == len(every) > 0
    assert len(WindowDataset(small_dataset, 8, split="all", stride=8, explorers=("random",))) == 0


def test_bad_split_and_window():
    with pytest.raises(ValueError, match="split must be"):
        WindowDataset(".", window=4, split="dev")
    with pytest.raises(ValueError, match="window and stride"):
        WindowDataset(".", window=0)


