import gymnasium as gym
import pytest

from millivid_env.agents import make_explorer
from millivid_env.errors import UserError


def run(env, explorer, steps):
    obs, info = env.reset(seed=0)
    total, history = 0.0, [info["task"]]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(explorer.act(obs, info))
        total += reward
        history.append(info["task"])
        if terminated or truncated:
            return total, history, terminated
    return total, history, False


def test_reach_rewards_progress_and_ends_on_arrival():
    env = gym.make("millivid/VoxelReach-v0", size=(16, 16))
    total, history, arrived = run(env, make_explorer("seek", env.action_space, seed=0), 400)
    first, last = history[0], history[-1]
    assert arrived and last["success"] and last["distance"] <= 6.0 and not any(h["success"] for h in history[:-1])
    # shaping telescopes: the closed distance / 10, plus 1 on arrival
    assert total == pytest.approx((first["distance"] - last["distance"]) / 10 + 1.0, abs=1e-6)
    assert env.spec.max_episode_steps == 512


def test_reach_a_named_landmark_or_say_which_exist():
    env = gym.make("millivid/VoxelReach-v0", size=(16, 16))
    obs, info = env.reset(seed=3)
    names = [m.name for m in env.unwrapped.world.landmarks]
    named = gym.make("millivid/VoxelReach-v0", size=(16, 16), landmark=names[-1])
    assert named.reset(seed=3)[1]["task"]["target"] == names[-1]
    with pytest.raises(UserError, match="no landmark 'nowhere'"):
        gym.make("millivid/VoxelReach-v0", size=(16, 16), landmark="nowhere").reset(seed=3)


def test_return_pays_only_after_leaving():
    env = gym.make("millivid/VoxelReturn-v0", size=(16, 16), leave=6.0, radius=2.0)
    total, history, returned = run(env, make_explorer("revisit", env.action_space, seed=1, leg_steps=20), 300)
    assert returned and total == 1.0 and history[-1]["left"] and history[-1]["distance"] <= 2.0
    assert history[0]["distance"] == 0.0 and not history[0]["success"], "standing at the start is not a return"
    with pytest.raises(UserError, match="radius < leave"):
        gym.make("millivid/VoxelReturn-v0", leave=2.0, radius=3.0)


def test_collected_task_episodes_record_the_rewards_and_end_on_success(tmp_path):
    from millivid_env.record import layout
    from millivid_env.record.collect import collect
    from millivid_env.record.recipe import ExplorerSpec
    from tests.conftest import small_recipe

    recipe = small_recipe(env="millivid/VoxelReach-v0", episodes=2, frames=400, explorers=(ExplorerSpec("seek"),))
    collect(recipe, tmp_path / "reach")
    ended = 0
    for ref in layout.episode_refs(tmp_path / "reach"):
        with layout.open_shard(ref.shard) as f:
            g = f[ref.name]
            rewards, terminations = g["rewards"][:], g["terminations"][:]
        if terminations[-1]:
            ended += 1
            assert rewards[-1] > 1.0 and not terminations[:-1].any()
    assert ended >= 1
