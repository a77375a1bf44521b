import gymnasium as gym
import h5py
import numpy as np
import pytest
from gymnasium import spaces

from millivid_env.envs.actions import noop
from millivid_env.record import layout
from millivid_env.record.recorder import ActionFlattener, Recorder
from millivid_env.record.writer import BlockBuffer


class CountingEnv(gym.Env):
    """A tiny third-party-style env: Box image observations, Discrete actions, ends after `length`."""

    observation_space = spaces.Box(0, 255, (8, 8, 3), np.uint8)
    action_space = spaces.Discrete(4)

    def __init__(self, length: int = 10):
        self.length = length

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.full((8, 8, 3), 0, np.uint8), {"score": 0.0}

    def step(self, action):
        self.t += 1
        return np.full((8, 8, 3), self.t, np.uint8), float(action), self.t >= self.length, False, {"score": self.t * 1.5}


def test_records_dict_env_with_pose_depth_and_block_ids(tmp_path):
    env = gym.make("millivid/VoxelWorld-v0", world_seed=1, size=(16, 16))
    with h5py.File(tmp_path / "s.h5", "w") as f:
        rec = Recorder(env, f, block=4)
        obs, info = rec.reset(seed=3)
        first_pose, first_depth = info["pose"], info["depth"].copy()
        for _ in range(10):
            rec.step({**noop(), "forward": 1, "camera": np.array([0.0, 2.0], np.float32)})
        rec.close()
        g = f["episode_0"]
        # Depth is stored with 12 significant bits (its low bits are render noise); nothing else is rounded.
        stored = g["obs/depth"][0]
        assert np.allclose(stored, first_depth, rtol=2**-13, atol=0) and not (stored.view(np.uint32) & 0x7FF).any()
        assert np.array_equal(g["obs/rgb"][0], obs["pov"]) and np.array_equal(g["obs/block_id"][0], info["block_id"])
        assert g.attrs["complete"] and g.attrs["steps"] == 10 and g.attrs["seed"] == 3
        assert g["obs/rgb"].shape == (11, 16, 16, 3) and g["obs/rgb"].dtype == np.uint8
        assert g["obs/depth"].shape == (11, 16, 16) and g["obs/block_id"].shape == (11, 16, 16)
        assert g["pose"].shape == (11, 5) and np.allclose(g["pose"][0], first_pose)
        assert g["actions/forward"][:].tolist() == [1] * 10 and g["actions/camera"].shape == (10, 2)
        assert g["pose"][-1, 3] == pytest.approx(((first_pose[3] + 20 + 180) % 360) - 180)
        assert g["rewards"].shape == (10,) and not g["terminations"][:].any()


def test_box_observations_discrete_actions_and_termination_close_the_episode(tmp_path):
    with h5py.File(tmp_path / "s.h5", "w") as f:
        rec = Recorder(CountingEnv(length=5), f, block=2, info_keys=("score",))
        rec.reset(seed=0)
        done = False
        while not done:
            _, _, done, _, _ = rec.step(2)
        rec.reset(seed=1)  # the next episode starts; the first stays complete
        rec.step(1)
        rec.close()
        first, second = f["episode_0"], f["episode_1"]
        assert first.attrs["complete"] and first.attrs["steps"] == 5
        assert first["obs/rgb"][:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4, 5]
        assert first["actions/action"][:].tolist() == [2] * 5 and first["terminations"][-1]
        assert first["infos/score"][:].tolist() == [0.0, 1.5, 3.0, 4.5, 6.0, 7.5]
        assert second.attrs["steps"] == 1


def test_steps_on_disk_grow_one_flushed_block_at_a_time(tmp_path):
    with h5py.File(tmp_path / "s.h5", "w") as f:
        rec = Recorder(CountingEnv(length=100), f, block=8, info_keys=())
        rec.reset(seed=0)
        for i in range(1, 20):
            rec.step(0)
            # Flushes fall where frames (i + 1 of them) fill whole chunks of 8 rows.
            expected = ((i + 1) // 8) * 8 - 1 if i >= 7 else 0
            assert layout.episode_steps(f["episode_0"]) == expected


def test_missing_info_key_is_named(tmp_path):
    with h5py.File(tmp_path / "s.h5", "w") as f:
        rec = Recorder(CountingEnv(), f, info_keys=("pose",))
        with pytest.raises(KeyError, match="no 'pose'"):
            rec.reset(seed=0)
        assert list(f) == []  # nothing written for the episode that could not start


def test_refuses_to_overwrite_an_episode(tmp_path):
    with h5py.File(tmp_path / "s.h5", "w") as f:
        rec = Recorder(CountingEnv(), f, info_keys=())
        rec.reset(seed=0)
        rec.close()
        rec.next_episode = 0
        with pytest.raises(ValueError, match="episode_0 already exists"):
            rec.reset(seed=0)


@pytest.mark.parametrize("content", [b"", b"\x89HDF\r\n\x1a\n" + b"\x00" * 40, np.random.default_rng(0).bytes(4096)])
def test_broken_shards_give_one_line_naming_the_file(tmp_path, content):
    path = tmp_path / "shard_0.h5"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="shard_0.h5: not a readable HDF5 file"):
        layout.open_shard(path)
    assert path.read_bytes() == content  # reading never alters it


def test_unknown_compression_is_refused():
    with pytest.raises(ValueError, match="unknown compression 'zstd'"):
        layout.compression_options("zstd")


@pytest.mark.parametrize("compression", ["blosc-lz4", "none"])
@pytest.mark.parametrize("row, dtype", [((), np.bool_), ((5,), np.float64), ((8, 8, 3), np.uint8)])
def test_growing_arrays_hold_every_row_across_chunks_and_reopening(tmp_path, compression, row, dtype):
    rng = np.random.default_rng(0)
    rows = (rng.random((2100, *row)) * 200).astype(dtype)
    sizes = [3, 29, 1000, 1024, 40, 4]  # straddles chunk edges, fills whole chunks in one append
    with h5py.File(tmp_path / "a.h5", "w") as f:
        array = layout.GrowingArray(layout.create_growing(f, "x", row, dtype, 32, compression))
        for size, start in zip(sizes[:4], np.cumsum([0, *sizes[:3]])):
            array.append(rows[start:start + size])
    with h5py.File(tmp_path / "a.h5", "a") as f:  # reopened mid-chunk: rows already there survive
        array = layout.GrowingArray(f["x"])
        assert array.rows == sum(sizes[:4])
        array.append(rows[sum(sizes[:4]):sum(sizes[:5])])
        array.append(rows[sum(sizes[:5]):sum(sizes)])
    with h5py.File(tmp_path / "a.h5") as f:
        np.testing.assert_array_equal(f["x"][:], rows[:sum(sizes)])


def test_flattened_actions_name_every_leaf_of_nested_dicts():
    space = spaces.Dict({"move": spaces.Discrete(3), "look": spaces.Box(-1, 1, (2,), np.float32),
                         "hands": spaces.Dict({"left": spaces.MultiBinary(2), "right": spaces.Discrete(2)})})
    flat = ActionFlattener(space)
    columns = dict(flat.columns)
    assert sorted(columns) == ["hands/left", "hands/right", "look", "move"]
    assert columns["move"] == np.int64 and columns["hands/right"] == np.int64
    assert columns["look"] == np.float32 and columns["hands/left"] == np.int8
    values = dict(zip(columns, flat.values({"move": 2, "look": [0.5, -0.25], "hands": {"left": [1, 0], "right": np.int32(1)}})))
    assert values == {"move": 2, "look": [0.5, -0.25], "hands/left": [1, 0], "hands/right": 1}
    assert ActionFlattener(spaces.Discrete(4)).columns == [("action", np.int64)]
    assert ActionFlattener(spaces.Discrete(4)).values(3) == [3]
    assert sorted(path for path, _ in ActionFlattener(space, prefix="actions/").columns) == \
        ["actions/hands/left", "actions/hands/right", "actions/look", "actions/move"]


class NestedActionEnv(CountingEnv):
    action_space = spaces.Dict({"move": spaces.Discrete(3), "look": spaces.Box(-1, 1, (2,), np.float32),
                                "hands": spaces.Dict({"left": spaces.MultiBinary(2), "right": spaces.Discrete(2)})})

    def step(self, action):
        return super().step(0)


def test_recorded_actions_keep_the_space_dtypes_whatever_python_values_come(tmp_path):
    with h5py.File(tmp_path / "s.h5", "w") as f:
        rec = Recorder(NestedActionEnv(length=50), f, block=4, info_keys=())
        rec.reset(seed=0)
        for t in range(6):  # Python ints and lists, as a hand-written policy would give
            rec.step({"move": t % 3, "look": [0.5, -0.25 * t], "hands": {"left": [1, t % 2], "right": 1}})
        rec.close()
        g = f["episode_0"]
        assert g["actions/look"].dtype == np.float32 and g["actions/hands/left"].dtype == np.int8
        assert g["actions/move"].dtype == np.int64 and g["rewards"].dtype == np.float32 and g["truncations"].dtype == bool
        assert g["actions/move"][:].tolist() == [0, 1, 2, 0, 1, 2]
        np.testing.assert_array_equal(g["actions/look"][:, 1], -0.25 * np.arange(6, dtype=np.float32))
        assert g["actions/hands/left"][:, 1].tolist() == [0, 1, 0, 1, 0, 1]


def test_a_block_refuses_a_row_with_other_fields():
    buffer = BlockBuffer(4)
    buffer.add({"a": 1, "b": np.zeros(2)})
    buffer.add({"b": np.ones(2), "a": 2})  # same fields in another order
    with pytest.raises(ValueError, match=r"fields \['a'\] in a block of \['a', 'b'\]"):
        buffer.add({"a": 3})
    rows = buffer.take()
    assert rows["a"].tolist() == [1, 2] and rows["b"].tolist() == [[0, 0], [1, 1]]
