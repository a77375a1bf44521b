"""The DiT, the diffusion maths and the sampler, on random weights and synthetic tokens."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from millivid_env.models.diffusion import Denoiser, diffusion_loss, NoiseConfig
from millivid_env.models.dit import DiT, DiTConfig, Tokens
from millivid_env.models.sampler import SamplerConfig, karras_sigmas, sample
from millivid_env.sim.tokens import Pyramid, arrange, collate
from millivid_env.strategies import StrategyConfig, make_strategy

CFG = DiTConfig(channels=4, levels=3, action_factors=(3,), width=32, depth=2, heads=2)


def random_model(cfg: DiTConfig = CFG) -> DiT:
    """Zero-initialised gates and outputs would hide every path; give all weights some value."""
    torch.manual_seed(0)
    model = DiT(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model.eval()


def random_tokens(batch=2, context=30, targets=12, seed=1) -> Tokens:
    g = torch.Generator().manual_seed(seed)
    n = context + targets
    return Tokens(x=torch.randn(batch, n, 4, generator=g), sigma=torch.rand(batch, n, generator=g),
                  level=torch.randint(0, 3, (batch, n), generator=g), pos=torch.rand(batch, n, 2, generator=g),
                  frame=torch.randint(-20, 3, (batch, n), generator=g).float(), action=torch.randint(0, 4, (batch, n), generator=g),
                  target=(torch.arange(n) >= context).expand(batch, n).clone(), valid=torch.ones(batch, n, dtype=torch.bool))


@torch.no_grad()
def test_cached_context_gives_the_full_sequences_outputs():
    model, t = random_model(), random_tokens()
    full = model(t, t.x)
    cache = model.context_cache(t.take(slice(0, 30)), t.x[:, :30])
    cached = model.forward_targets(t.take(slice(30, None)), t.x[:, 30:], cache)
    assert full[:, 30:].abs().mean() > 0.1
    torch.testing.assert_close(cached, full[:, 30:], atol=1e-5, rtol=1e-5)
    # the cache is reusable: a second denoising iteration with new target values needs no recompute
    other = torch.randn_like(t.x[:, 30:])
    again = model.forward_targets(t.take(slice(30, None)), other, cache)
    reference = model(t, torch.cat([t.x[:, :30], other], 1))
    torch.testing.assert_close(again, reference[:, 30:], atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_new_context_joins_the_cache_frame_causally_in_the_targets_pass():
    model, t = random_model(), random_tokens(context=30, targets=12)
    old, new, targets = t.take(slice(0, 20)), t.take(slice(20, 30)), t.take(slice(30, None))
    cache = model.context_cache(old, old.x)
    own, fused = model.extend_and_forward(new.then(targets), torch.cat([new.x, targets.x], 1), len(new), cache)
    assert [k.shape[2] for k, _ in own] == [10, 10]
    grown = [(torch.cat([k, nk], 2), torch.cat([v, nv], 2)) for (k, v), (nk, nv) in zip(cache, own)]
    torch.testing.assert_close(fused, model.forward_targets(targets, targets.x, grown), atol=1e-5, rtol=1e-5)
    # the new tokens saw the old ones and each other, never the targets; the old keys stay as they were
    changed = targets.x + 1
    own_again, _ = model.extend_and_forward(new.then(targets), torch.cat([new.x, changed], 1), len(new), cache)
    torch.testing.assert_close(own_again[1][0], own[1][0])
    full = model.context_cache(old.then(new), torch.cat([old.x, new.x], 1))
    assert not torch.allclose(full[1][0][:, :, :20], cache[1][0]), "both-ways attention would change the old keys"


@torch.no_grad()
def test_context_never_sees_targets_and_padding_changes_nothing():
    model, t = random_model(), random_tokens()
    changed = t.x.clone()
    changed[:, 30:] += 5
    torch.testing.assert_close(model(t, changed)[:, :30], model(t, t.x)[:, :30])
    pad = 7
    padded = Tokens(**{k: torch.cat([getattr(t, k), getattr(t, k)[:, :pad]], 1) for k in t.__dataclass_fields__})
    padded.valid[:, -pad:] = False
    torch.testing.assert_close(model(padded, padded.x)[:, :len(t)], model(t, t.x), atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_only_frame_differences_matter():
    model, t = random_model(), random_tokens()
    shifted = Tokens(**{**t.__dict__, "frame": t.frame + 113})
    torch.testing.assert_close(model(shifted, t.x), model(t, t.x), atol=1e-4, rtol=1e-4)
    moved = Tokens(**{**t.__dict__, "frame": t.frame * 2})
    assert not torch.allclose(model(moved, t.x), model(t, t.x), atol=1e-3)


@torch.no_grad()
def test_actions_and_levels_condition_each_token():
    model, t = random_model(), random_tokens()
    other = Tokens(**{**t.__dict__, "action": (t.action + 1) % 4})
    assert not torch.allclose(model(other, t.x), model(t, t.x), atol=1e-3)


def test_karras_schedule_falls_to_zero():
    sigmas = karras_sigmas(SamplerConfig(steps=4))
    assert len(sigmas) == 5 and sigmas[-1] == 0
    assert sigmas[0] == pytest.approx(5.0, rel=1e-5) and sigmas[-2] == pytest.approx(0.002, rel=1e-5)
    assert torch.all(sigmas[1:] < sigmas[:-1])
    assert karras_sigmas(SamplerConfig(steps=1)).tolist() == pytest.approx([5.0, 0.0], rel=1e-5)


def test_a_perfect_denoiser_samples_the_truth_in_any_number_of_steps():
    class Oracle(Denoiser):
        def denoise_targets(self, targets, cache):
            return truth.expand_as(targets.x)

    truth = torch.randn(1, 12, 4)
    oracle, t = Oracle(CFG), random_tokens(batch=1)
    for steps in (1, 2, 5):
        out = sample(oracle, t.take(slice(0, 30)), t.take(slice(30, None)), SamplerConfig(steps=steps))
        torch.testing.assert_close(out, truth)


def test_normalisation_round_trips_per_level():
    model = Denoiser(CFG)
    model.mean.copy_(torch.randn(3, 4))
    model.std.copy_(torch.rand(3, 4) + 0.1)
    x, level = torch.randn(2, 5, 4), torch.randint(0, 3, (2, 5))
    torch.testing.assert_close(model.denormalise(model.normalise(x, level), level), x)


def test_the_loss_scores_targets_only():
    model, t = Denoiser(CFG), random_tokens()
    torch.manual_seed(0)
    loss, logs = diffusion_loss(model, t, NoiseConfig())
    assert loss.requires_grad and set(logs) == {"L0", "L1", "L2"}
    padded = Tokens(**{**t.__dict__, "valid": t.valid.clone()})
    padded.valid[:, -4:] = False  # padding is not scored: its error may be anything
    padded.x = t.x.clone()
    padded.x[:, -4:] = 1e6
    torch.manual_seed(0)
    assert torch.isfinite(diffusion_loss(model, padded, NoiseConfig())[0])


def test_arrange_puts_every_token_where_the_step_says():
    pyramid = Pyramid((16, 4, 1))
    assert pyramid.total == 21 and pyramid.pos.shape == (21, 2)
    assert np.allclose(pyramid.pos[20], [0.5, 0.5]) and np.allclose(pyramid.pos[16], [0.25, 0.25])
    latents = np.random.default_rng(0).normal(size=(40, 21, 4)).astype(np.float16)
    actions = np.concatenate([[3], np.arange(39) % 3])
    step = make_strategy("millivid", StrategyConfig(tokens=(16, 4, 1), windows=(1, 2, 4), extra=4)).plan(10, 10)[1]
    out = arrange(pyramid, latents, actions, step, origin=5)
    frames, index = pyramid.rows(np.concatenate([step.context, step.targets]))
    assert np.array_equal(out["x"], latents[5 + frames, index].astype(np.float32))
    assert np.array_equal(out["action"], actions[5 + frames])
    assert out["frame"][out["target"]].min() == 0 and out["target"].sum() == len(pyramid.rows(step.targets)[0])
    batch = collate([out, arrange(pyramid, latents, actions, step, origin=0)])
    assert batch.x.shape == (2, len(out["x"]), 4) and batch.valid.all()


def test_action_ids_embed_as_the_sum_of_their_digits():
    torch.manual_seed(0)
    discrete = DiT(CFG)
    ids = torch.tensor([0, 1, 2, 3])
    assert torch.equal(discrete.embed_actions(ids), discrete.action_embed.weight[ids])  # one row per action, then "none"
    dict_model = DiT(replace(CFG, action_factors=(3, 2, 5)))
    rows = dict_model.action_embed.weight
    assert rows.shape[0] == 3 + 2 + 5 + 1
    assert torch.allclose(dict_model.embed_actions(torch.tensor([1 + 3 * 1 + 6 * 4])), rows[1] + rows[3 + 1] + rows[5 + 4])
    assert torch.equal(dict_model.embed_actions(torch.tensor([30]))[0], rows[-1])
