"""The reward and termination head: learning, checkpoints, and its use in Sim-v0 and its vector env."""
import gymnasium as gym
import numpy as np
import pytest
import torch

from millivid_env.errors import UserError
from millivid_env.models.encode import tokenizer_id
from millivid_env.sim.reward_head import (
    RewardHead, RewardHeadConfig, RewardTrainConfig, Transitions, evaluate, fit, load_head, save_head,
)
from tests.sim.test_env import sim  # noqa: F401  (the tiny causal world model)


def synthetic(seed: int, n: int = 6000) -> Transitions:
    """Arrival when the after-frame is bright in its first channel (as a landmark filling the view) and
    the action is 0; shaping from the action."""
    rng = np.random.default_rng(seed)
    before, after = rng.normal(size=(2, n, 21, 4)).astype(np.float32)
    action = rng.integers(0, 3, n)
    end = (after[:, :, 0].mean(1) > 0.3) & (action == 0)
    reward = np.where(action == 0, 0.1, -0.05).astype(np.float32) + end
    return Transitions(before, after, action, reward.astype(np.float32), end)


def test_the_head_learns_rewards_and_rare_terminations_beyond_the_references():
    torch.manual_seed(0)
    head = RewardHead(RewardHeadConfig(features=84, hidden=64))
    fit(head, synthetic(0), RewardTrainConfig(steps=600, batch=128, lr=3e-3))
    figures = evaluate(head.eval(), synthetic(1))
    assert figures["reward_mse"] < 0.6 * figures["reward_mse_of_the_mean"] and figures["reward_r2"] > 0.4
    assert 50 < figures["terminations"] < 400  # rare: "never ends" is already ~95% accurate
    assert figures["termination_recall"] > 0.5 and figures["termination_f1"] > 0.45


def test_a_head_round_trips_and_refuses_another_tokenizers_latents(tmp_path):
    head = RewardHead(RewardHeadConfig(features=84, hidden=16, tokenizer_id="abc"))
    save_head(tmp_path / "head", head, {"held_out": {}})
    loaded = load_head(tmp_path / "head", "abc")
    x = torch.randn(2, 21, 4)
    assert torch.equal(head(x, x, torch.tensor([0, 1]))[0], loaded(x, x, torch.tensor([0, 1]))[0])
    with pytest.raises(UserError, match="reads latents of tokenizer abc, the simulator's is xyz"):
        load_head(tmp_path / "head", "xyz")
    with pytest.raises(UserError, match="no checkpoint here"):
        load_head(tmp_path / "none", "abc")


def action_two_ends(root) -> None:
    """A head by hand: action 2 pays 1 and ends the episode, the others pay 0 and go on."""
    head = RewardHead(RewardHeadConfig(features=84, hidden=8, tokenizer_id=tokenizer_id(root / "tok")))
    with torch.no_grad():
        for p in head.net.parameters():
            p.zero_()
        head.net[0].weight[0, 2 * 84 + 2] = 10.0
        head.net[2].weight[0, 0] = 1.0
        head.net[4].weight[0, 0], head.net[4].weight[1, 0], head.net[4].bias[1] = 0.1, 2.0, -5.0
    save_head(root / "head", head, {})


def test_sim_env_rewards_and_terminations_come_from_the_head(sim):  # noqa: F811
    action_two_ends(sim)
    env = gym.make("millivid/Sim-v0", checkpoint=sim / "sim", prompt_frames=4, reward_head=sim / "head")
    env.reset(seed=0)
    _, reward, terminated, _, _ = env.step(0)
    assert reward == pytest.approx(0.0, abs=1e-4) and not terminated
    _, reward, terminated, _, _ = env.step(2)
    assert reward == pytest.approx(1.0, abs=1e-3) and terminated


def test_the_vector_env_restarts_only_the_worlds_that_ended(sim):  # noqa: F811
    action_two_ends(sim)
    envs = gym.make_vec("millivid/Sim-v0", num_envs=3, checkpoint=sim / "sim", prompt_frames=4, reward_head=sim / "head")
    envs.reset(seed=0)
    for _ in range(5):
        envs.step(np.array([0, 0, 0]))
    before = envs.unwrapped.sim.stepper.frame_actions.copy()
    obs, reward, terminated, truncated, info = envs.step(np.array([0, 2, 1]))
    assert terminated.tolist() == [False, True, False] and not truncated.any()
    assert reward[1] == pytest.approx(1.0, abs=1e-3)
    assert info["_final_obs"].tolist() == [False, True, False] and info["final_obs"][1]["pov"].shape == (16, 16, 3)
    after = envs.unwrapped.sim.stepper.frame_actions
    assert np.array_equal(after[0, :-1], before[0, 1:]) and after[0, -1] == 0  # world 0 went on
    assert (after[1, :-3] == 3).all() and after[1].shape == before[1].shape  # world 1 restarted: a 4-frame prompt, led by "no action"


def test_sim_reach_ships_a_head_that_knows_the_shipped_simulator():
    env = gym.make("millivid/SimReach-v0")
    assert env.unwrapped.sim.head is not None and env.unwrapped.sim.settings.horizon == 512
    env.reset(seed=0)
    _, reward, terminated, _, _ = env.step(0)
    assert isinstance(reward, float) and isinstance(terminated, bool)
    envs = gym.make_vec("millivid/SimReach-v0", num_envs=2)
    assert envs.unwrapped.sim.head is not None
