import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from millivid_env.envs.actions import noop
from millivid_env.envs.make import make_env
from millivid_env.errors import UserError
from millivid_env.world import blocks as b


@pytest.mark.parametrize("env_id", ["millivid/VoxelWorld-v0", "millivid/VoxelLoop-v0"])
def test_gymnasium_and_sb3_checkers_pass(env_id):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(env_id, world_seed=5)
    check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=False)


def rollout(env_id: str, seed: int, steps: int, **kwargs):
    env = gym.make(env_id, **kwargs)
    env.action_space.seed(seed)
    obs, info = env.reset(seed=seed)
    frames, poses = [obs["pov"]], [info["pose"]]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        frames.append(obs["pov"])
        poses.append(info["pose"])
    return np.stack(frames), np.stack(poses), info


@pytest.mark.parametrize("env_id", ["millivid/VoxelWorld-v0", "millivid/VoxelLoop-v0"])
def test_same_seed_same_actions_identical_frames(env_id):
    frames_a, poses_a, _ = rollout(env_id, 7, 30)
    frames_b, poses_b, _ = rollout(env_id, 7, 30)
    frames_c, _, _ = rollout(env_id, 8, 30)
    assert np.array_equal(frames_a, frames_b) and np.array_equal(poses_a, poses_b)
    assert not np.array_equal(frames_a, frames_c)


def test_info_carries_pose_depth_and_block_ids_at_256():
    env = gym.make("millivid/VoxelWorld-v0", size=(256, 256), world_seed=1)
    obs, info = env.reset(seed=0)
    assert obs["pov"].shape == (256, 256, 3) and obs["pov"].dtype == np.uint8
    assert info["depth"].shape == (256, 256) and info["depth"].dtype == np.float32
    assert info["block_id"].shape == (256, 256) and info["block_id"].dtype == np.uint8
    assert info["pose"].shape == (5,)
    assert (info["block_id"] == 0).any() and (info["block_id"] != 0).any()  # sky and ground


def test_macro_actions_turn_ten_degrees_and_walk_forward():
    env = gym.make("millivid/VoxelLoop-v0", world_seed=2)
    _, info = env.reset(seed=0, options={"pose": (128.5, 60.0, 128.5, 0.0, 0.0)})
    start = info["pose"]
    _, _, _, _, info = env.step(1)  # turn left
    assert info["pose"][3] == pytest.approx(start[3] - 10.0)
    _, _, _, _, info = env.step(2)
    _, _, _, _, info = env.step(2)  # two turns right
    assert info["pose"][3] == pytest.approx(start[3] + 10.0)


def test_attacking_the_block_underfoot_reveals_the_one_below():
    env = gym.make("millivid/VoxelWorld-v0", world_seed=3)
    obs, info = env.reset(seed=0)
    x, y, z = info["pose"][:3]
    _, info = env.reset(seed=0, options={"pose": (x, y, z, 0.0, 90.0)})  # look straight down
    h, w = info["block_id"].shape
    before_id, before_depth = info["block_id"][h // 2, w // 2], info["depth"][h // 2, w // 2]
    _, _, _, _, info = env.step({**noop(), "attack": 1})
    assert info["depth"][h // 2, w // 2] > before_depth + 0.9  # the hole is a block deep
    assert before_id != b.AIR


def test_use_places_a_block_in_view():
    env = gym.make("millivid/VoxelWorld-v0", world_seed=3)
    _, info = env.reset(seed=0)
    x, y, z = info["pose"][:3]
    _, info = env.reset(seed=0, options={"pose": (x, y, z, 0.0, 60.0)})
    h, w = info["block_id"].shape
    _, _, _, _, info = env.step({**noop(), "use": 1})
    assert info["block_id"][h // 2, w // 2] == b.PLANKS


def test_pitch_is_clamped():
    env = gym.make("millivid/VoxelWorld-v0", world_seed=3)
    env.reset(seed=0)
    for _ in range(3):
        _, _, _, _, info = env.step({**noop(), "camera": np.array([80.0, 0.0], np.float32)})
    assert info["pose"][4] == 90.0


@pytest.mark.parametrize(
    "action, message",
    [
        ({"fly": 1}, "unknown action keys"),
        ({"forward": 2}, "action\\['forward'\\] must be 0 or 1, got 2"),
        ({"camera": np.zeros(3)}, "shape \\(2,\\)"),
        ({"camera": np.array([np.nan, 0.0])}, "finite"),
        (3, "must be a dict"),
    ],
)
def test_invalid_actions_name_the_bad_value(action, message):
    env = gym.make("millivid/VoxelWorld-v0", world_seed=3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.unwrapped.step(action)


def test_invalid_macro_action_and_seed_and_pose():
    env = gym.make("millivid/VoxelLoop-v0", world_seed=3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="got 3"):
        env.unwrapped.step(3)
    with pytest.raises(ValueError, match="seed must be"):
        env.reset(seed=-1)
    with pytest.raises(ValueError, match="outside"):
        env.reset(seed=0, options={"pose": (999.0, 10.0, 10.0, 0.0, 0.0)})


def test_unknown_env_id_lists_ours():
    with pytest.raises(UserError, match="millivid/VoxelWorld-v0"):
        make_env("millivid/Nope-v0")
