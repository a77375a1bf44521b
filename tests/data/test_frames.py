import numpy as np
import pytest

from millivid_env.data.frames import FramesInMemory, memory_needed
from millivid_env.data.windows import split_episodes
from millivid_env.errors import UserError
from millivid_env.record import layout


def recorded(dataset, split="all"):
    """Every frame with an action, in episode order, read straight from the shards."""
    rgb, block_id = [], []
    for ref in split_episodes(dataset, split):
        with layout.open_shard(ref.shard) as f:
            rgb.append(f[ref.name][layout.RGB][:ref.steps])
            block_id.append(f[ref.name][layout.BLOCK_ID][:ref.steps])
    return np.concatenate(rgb), np.concatenate(block_id)


def test_memory_holds_every_frame_of_the_split_once(small_dataset):
    frames = FramesInMemory(small_dataset, "all", progress=False)
    rgb, block_id = recorded(small_dataset)
    assert len(frames) == 3 * 40 == len(rgb)
    assert np.array_equal(frames.arrays[layout.RGB], rgb) and np.array_equal(frames.arrays[layout.BLOCK_ID], block_id)
    assert memory_needed(small_dataset, "all") == rgb.nbytes + block_id.nbytes


def test_samples_are_independent_frames_with_their_own_block_ids(small_dataset):
    frames = FramesInMemory(small_dataset, "all", progress=False)
    rgb, block_id = recorded(small_dataset)
    draw = frames.sample(np.random.default_rng(0), 64)
    assert draw[layout.RGB].shape == (64, 16, 16, 3) and draw[layout.BLOCK_ID].shape == (64, 16, 16)
    rows = [next(i for i in range(len(rgb)) if np.array_equal(rgb[i], frame)) for frame in draw[layout.RGB]]
    assert all(np.array_equal(block_id[r], b) for r, b in zip(rows, draw[layout.BLOCK_ID]))
    # Frames come from all over the dataset, not in runs of neighbours: most draws are > 4 steps apart.
    gaps = np.diff(sorted(set(rows)))
    assert len(set(rows)) > 40 and np.mean(gaps > 1) > 0.5


def test_an_empty_split_says_so(small_dataset):
    with pytest.raises(UserError, match="no train nope frames to train on"):
        FramesInMemory(small_dataset, "train", explorers=("nope",), progress=False)


def test_frames_flag_chooses_memory_only_where_it_fits(small_dataset, monkeypatch):
    from millivid_env.cli.train_tokenizer import frames_in_memory

    needed = memory_needed(small_dataset, "train")
    monkeypatch.setattr("millivid_env.cli.train_tokenizer.available_memory", lambda: 10 * needed)
    assert frames_in_memory("auto", small_dataset, ()) and not frames_in_memory("disk", small_dataset, ())
    monkeypatch.setattr("millivid_env.cli.train_tokenizer.available_memory", lambda: needed // 2)
    assert not frames_in_memory("auto", small_dataset, ())
    with pytest.raises(UserError, match="need .* GiB of RAM .* use --frames disk"):
        frames_in_memory("memory", small_dataset, ())
    monkeypatch.setattr("millivid_env.cli.train_tokenizer.available_memory", lambda: 3 * needed)
    assert frames_in_memory("auto", small_dataset, ()) and not frames_in_memory("auto", small_dataset, (), copies=2)
