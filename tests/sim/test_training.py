"""Training the denoiser on a strategy's arrangements, and rolling it out."""
import numpy as np
import pytest
import torch

from millivid_env.errors import UserError
from millivid_env.models.diffusion import Denoiser
from millivid_env.models.sampler import SamplerConfig
from millivid_env.models.trainer import autocast_for, training_step
from millivid_env.sim.episodes import EncodedEpisode
from millivid_env.sim.rollout import rollout
from millivid_env.sim.tokens import Pyramid
from millivid_env.sim.training import Arrangements, fit_normalisation, sim_loss, validation_loss
from millivid_env.sim.world_model import SimConfig, WorldModel
from millivid_env.models.diffusion import NoiseConfig

TOKENS = (16, 4, 1)
TURN = (0.0, 0.6, -0.6)  # how far each action moves the synthetic scene


def synthetic_episode(seed: int, frames: int = 48) -> EncodedEpisode:
    """Latents of a scene that scrolls by each frame's action: the next frame follows from the last and the action."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 3, frames - 1)
    phase = np.concatenate([[rng.uniform(0, 6)], np.cumsum([TURN[a] for a in actions]) + 0])
    phase[1:] += phase[0]
    pyramid = Pyramid(TOKENS)
    x = pyramid.pos[:, 0] * 2 * np.pi
    channels = [np.sin(phase[:, None] + x + c) for c in range(4)]
    latents = np.stack(channels, -1) * (1 + pyramid.level[None, :, None])
    return EncodedEpisode(f"episode_{seed}", latents.astype(np.float16), np.concatenate([[3], actions]), None, "synthetic")


def small_sim(strategy: str = "millivid") -> SimConfig:
    return SimConfig(strategy=strategy, windows=(1, 2, 4), extra=4, width=48, depth=2, heads=2, tokens=TOKENS, channels=4,
                     batch=16, plan_contexts=(1, 8))


def test_a_tiny_model_learns_a_tiny_world_and_beats_copying():
    torch.manual_seed(0)
    cfg = small_sim()
    episodes = [synthetic_episode(s) for s in range(12)]
    model = WorldModel(cfg, Denoiser(cfg.dit_config()), None)
    fit_normalisation(model.denoiser, episodes, model.pyramid)
    batches = Arrangements(episodes, model.strategy, model.pyramid, cfg.plan_contexts, cfg.batch, seed=0)
    val = Arrangements([synthetic_episode(99)], model.strategy, model.pyramid, cfg.plan_contexts, 1, 0).fixed(16, 0)
    before = validation_loss(model.denoiser, val)
    optimizer = torch.optim.AdamW(model.denoiser.parameters(), 3e-3)
    net = model.denoiser.train()
    for _ in range(250):
        training_step(net, optimizer, lambda n, b: sim_loss(n, b, NoiseConfig(), torch.device("cpu")), next(batches),
                      3e-3, 1.0, autocast_for(torch.device("cpu")))
    net.eval()
    after = validation_loss(model.denoiser, val)
    assert after["mse@2"] < 0.4 * before["mse@2"] and after["mse@0.5"] < 0.5 * before["mse@0.5"], (before, after)
    truths = [synthetic_episode(s, 24) for s in range(120, 126)]
    latents = np.stack([t.latents for t in truths]).astype(np.float32)
    out = rollout(model, latents[:, :8], np.stack([t.frame_actions for t in truths]), SamplerConfig(steps=3))
    error = np.mean((out.latents[:, 8:12] - latents[:, 8:12]) ** 2)
    copying = np.mean((latents[:, 7:8] - latents[:, 8:12]) ** 2)
    assert error < 0.9 * copying, (error, copying)
    assert len(out.tokens_per_step) == len(model.strategy.plan(8, 16))


def test_arrangements_balance_the_kinds_of_step():
    cfg = small_sim()
    model = WorldModel(cfg, Denoiser(cfg.dit_config()), None)
    draws = Arrangements([synthetic_episode(0, 200)], model.strategy, model.pyramid, (1, 64), 1, seed=0)
    levels = [int(draws.steps[i].targets[0, 1]) for i in np.random.default_rng(0).choice(len(draws.steps), 3000, p=draws.p)]
    shares = np.bincount(levels, minlength=3) / len(levels)
    assert np.allclose(shares, 1 / 3, atol=0.04)
    batch = next(draws)
    assert batch.target.any() and (~batch.target).any() and batch.frame[batch.target].min() == 0


def test_rollout_refuses_bad_inputs():
    cfg = small_sim()
    model = WorldModel(cfg, Denoiser(cfg.dit_config()), None)
    episode = synthetic_episode(0, 20)
    context = episode.latents[None, :8].astype(np.float32)
    bad = episode.frame_actions[None].copy()
    bad[0, 10] = 7
    with pytest.raises(UserError, match="action ids must be integers in"):
        rollout(model, context, bad)
    with pytest.raises(UserError, match="context latents must be"):
        rollout(model, context[..., :3], episode.frame_actions[None])
    with pytest.raises(UserError, match="more than the 8 context frames"):
        rollout(model, context, episode.frame_actions[None, :8])
