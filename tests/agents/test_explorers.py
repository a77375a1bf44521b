import math

import gymnasium as gym
import numpy as np
import pytest

from millivid_env.agents import make_explorer
from millivid_env.agents.explorers import FORWARD, LEFT, RIGHT, heading_to
from millivid_env.envs.actions import HOLD_TICKS


def walk(env_id: str, explorer: str, steps: int, seed: int = 0, **kwargs):
    env = gym.make(env_id, world_seed=11)
    policy = make_explorer(explorer, env.action_space, seed=seed, **kwargs)
    obs, info = env.reset(seed=seed)
    poses, actions = [info["pose"]], []
    for _ in range(steps):
        action = policy.act(obs, info)
        obs, _, _, _, info = env.step(action)
        poses.append(info["pose"])
        actions.append(action)
    return np.stack(poses), actions


def test_revisit_walker_comes_back_near_its_early_poses():
    poses, _ = walk("millivid/VoxelLoop-v0", "revisit", 400, leg_steps=80)
    early, late = poses[:81, [0, 2]], poses[200:, [0, 2]]
    farthest = np.linalg.norm(early - early[0], axis=1).max()
    assert farthest > 10  # it really walked away
    nearest = np.array([np.linalg.norm(early - p, axis=1).min() for p in late])
    assert (nearest < 3.0).mean() > 0.9  # later frames stand where early frames stood
    assert np.linalg.norm(poses[100:, [0, 2]] - early[0], axis=1).min() < 3.0  # back at the start


def test_random_walk_moves_and_turns():
    poses, actions = walk("millivid/VoxelLoop-v0", "random", 120)
    assert np.linalg.norm(poses[-1, [0, 2]] - poses[0, [0, 2]]) > 5
    assert {FORWARD, LEFT, RIGHT} <= set(int(a) for a in actions)


def test_look_around_spins_a_full_circle():
    _, actions = walk("millivid/VoxelLoop-v0", "look_around", 36)
    assert len(set(actions)) == 1 and actions[0] in (LEFT, RIGHT)


def test_dict_env_holds_each_macro_for_its_ticks():
    poses, actions = walk("millivid/VoxelWorld-v0", "random", HOLD_TICKS * 4)
    for start in range(0, len(actions), HOLD_TICKS):
        held = actions[start:start + HOLD_TICKS]
        assert all(a["forward"] == held[0]["forward"] and np.array_equal(a["camera"], held[0]["camera"]) for a in held)


def test_heading_to_uses_minecraft_yaw():
    pose = np.array([0.0, 0.0, 0.0, 0.0, 0.0])  # facing +z
    assert heading_to(pose, np.array([0.0, 5.0])) == pytest.approx(0.0)
    assert heading_to(pose, np.array([-5.0, 0.0])) == pytest.approx(90.0)  # -x is to the right
    assert math.isclose(abs(heading_to(pose, np.array([0.0, -5.0]))), 180.0)


def test_unknown_explorer_and_unsupported_space_are_refused():
    with pytest.raises(ValueError, match="unknown explorer 'nope'"):
        make_explorer("nope", gym.spaces.Discrete(3))
    with pytest.raises(ValueError, match="Discrete\\(3\\) macro or MineRL-style Dict"):
        make_explorer("random", gym.spaces.Discrete(5))
