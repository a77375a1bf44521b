"""millivid/Sim-v0 on a tiny untrained world model: the API, determinism, the checkers, bounded memory, bad input."""
import gymnasium as gym
import numpy as np
import pytest
import torch

from millivid_env.envs.action_codec import ActionCodec
from millivid_env.envs.actions import action_space, macro_tick_action, noop
from millivid_env.errors import UserError
from millivid_env.models import checkpoint
from millivid_env.models.diffusion import Denoiser
from millivid_env.models.encode import tokenizer_id
from millivid_env.models.tokenizer import Tokenizer
from millivid_env.sim.world_model import SimConfig
from tests.models.test_tokenizer import SMALL


def tiny_sim(root, codec=ActionCodec()):
    """An untrained causal world model in root / "sim" over a small tokenizer in root / "tok"."""
    torch.manual_seed(0)
    checkpoint.save_model(root / "tok", Tokenizer(SMALL), SMALL)
    cfg = SimConfig(strategy="causal", windows=(1, 2, 4), extra=4, width=32, depth=1, heads=2, tokens=(16, 4, 1), channels=4,
                    tokenizer=str(root / "tok"), tokenizer_id=tokenizer_id(root / "tok"), actions=codec.n, action_codec=codec.kind)
    denoiser = Denoiser(cfg.dit_config())
    with torch.no_grad():
        for p in denoiser.net.parameters():
            p.normal_(0, 0.1)
    checkpoint.save_model(root / "sim", denoiser, cfg)
    return root


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return tiny_sim(tmp_path_factory.mktemp("simenv"))


def make(sim, **kwargs):
    return gym.make("millivid/Sim-v0", checkpoint=sim / "sim", prompt_frames=4, **kwargs)


def frames_after(env, seed, actions, options=None):
    obs, _ = env.reset(seed=seed, options=options)
    return np.stack([obs["pov"]] + [env.step(a)[0]["pov"] for a in actions])


def test_steps_return_frames_and_latents(sim):
    env = make(sim)
    obs, info = env.reset(seed=0)
    assert obs["pov"].shape == (16, 16, 3) and obs["pov"].dtype == np.uint8 and info["prompt_frames"] == 4
    obs, reward, terminated, truncated, info = env.step(1)
    assert env.observation_space.contains(obs) and reward == 0.0 and not terminated and not truncated
    assert [z.shape for z in info["latents"]] == [(16, 4), (4, 4), (1, 4)]


def test_same_seed_and_actions_same_frames(sim):
    actions = [0, 1, 2, 0, 0, 1]
    a, b = frames_after(make(sim), 3, actions), frames_after(make(sim), 3, actions)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, frames_after(make(sim), 4, actions))


def test_gymnasium_and_stable_baselines_checkers(sim):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    check_env(make(sim).unwrapped, skip_render_check=True)
    sb3_check_env(make(sim).unwrapped)


def test_memory_stays_bounded_and_the_horizon_truncates(sim):
    env = make(sim, horizon=60)
    env.reset(seed=0)
    stepper = env.unwrapped.sim.stepper
    sizes = []
    for t in range(60):
        *_, truncated, _ = env.step(t % 3)
        sizes.append(stepper.latents.shape[1])
    assert truncated and max(sizes) == stepper.keep == sizes[-1] <= 4 + 4 + 1


def test_the_incremental_cache_follows_the_windows_and_starts_exact(sim):
    exact, incremental = make(sim, cache="exact"), make(sim, cache="incremental", horizon=60)
    first = [env.reset(seed=3) and env.step(1)[0]["pov"] for env in (exact, incremental)]
    assert np.array_equal(*first), "the prompt's keys and values are computed whole, as the exact cache does"
    stepper = incremental.unwrapped.sim.stepper
    for t in range(40):
        known = np.r_[np.ones((stepper.latents.shape[1], 3), bool), np.zeros((1, 3), bool)]
        wanted, origin = stepper.model.strategy.next_step(known).context, stepper.origin
        incremental.step(t % 3)
        cached = {tuple(r) for r in stepper._rows}
        assert cached == {(origin + f, level) for f, level in wanted}, "exactly the step's context was cached"
        assert stepper._cache[0][0].shape[2] == len(stepper._rows) == sum(stepper.model.pyramid.tokens[level] for _, level in wanted)
    again = make(sim, cache="incremental")
    again.reset(seed=3)
    incremental.reset(seed=3)
    assert all(np.array_equal(again.step(a)[0]["pov"], incremental.step(a)[0]["pov"]) for a in (0, 2, 1, 1)), "seeded"
    with pytest.raises(UserError, match="cache must be one of"):
        make(sim, cache="stale")


@pytest.mark.slow
def test_five_thousand_steps_in_bounded_memory(sim):
    env = make(sim, horizon=10_000)
    env.reset(seed=0)
    for t in range(5000):
        env.step(t % 3)
    assert env.unwrapped.sim.stepper.latents.shape[1] == env.unwrapped.sim.stepper.keep


def test_prompts_from_frames_or_latents_and_chunk_rollouts(sim):
    env = make(sim)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    obs, info = env.reset(seed=0, options={"prompt": {"frames": frames, "actions": [0, 1, 2, 0]}})
    assert info["prompt_frames"] == 5
    latents = env.unwrapped.sim.stepper.latents[0]  # the frames the strategy still looks at
    obs, info = env.reset(seed=0, options={"prompt": {"latents": latents, "actions": [0] * (len(latents) - 1)}})
    before = env.unwrapped.sim.stepper.latents.copy()
    chunk = env.unwrapped.rollout(np.array([0, 0, 1, 2, 2, 0, 0, 0]))
    assert chunk.shape == (8, 16, 16, 3) and np.array_equal(env.unwrapped.sim.stepper.latents, before)


@pytest.mark.parametrize("prompt, message", [
    ({"frames": np.zeros((3, 8, 8, 3), np.uint8), "actions": [0, 0]}, "must be uint8"),
    ({"latents": np.zeros((3, 5, 4)), "actions": [0, 0]}, "must be"),
    ({"latents": np.zeros((3, 21, 4)), "actions": [0]}, "needs 2 actions"),
    ({"actions": [0]}, 'with "frames"'),
])
def test_bad_prompts_say_what_is_wrong(sim, prompt, message):
    with pytest.raises(UserError, match=message):
        make(sim).reset(seed=0, options={"prompt": prompt})


def test_bad_actions_and_checkpoints(sim, tmp_path):
    env = make(sim)
    env.reset(seed=0)
    with pytest.raises(UserError, match="action must be an int"):
        env.step(3)
    with pytest.raises(UserError, match="no checkpoint here"):
        gym.make("millivid/Sim-v0", checkpoint=tmp_path / "missing")
    other = type(SMALL)(**{**SMALL.__dict__, "width": 16})
    checkpoint.save_model(tmp_path / "other", Tokenizer(other), other)
    with pytest.raises(UserError, match="is not the tokenizer"):
        gym.make("millivid/Sim-v0", checkpoint=sim / "sim", tokenizer=tmp_path / "other")
    with pytest.raises(UserError, match="takes no horizn; it takes cache, checkpoint, context_sigma, horizon"):
        gym.make("millivid/Sim-v0", checkpoint=sim / "sim", horizn=5)
    with pytest.raises(UserError, match="must be >= 1"):
        gym.make("millivid/Sim-v0", checkpoint=sim / "sim", sampler_steps=0)


def make_vec(sim, num_envs, **kwargs):
    return gym.make_vec("millivid/Sim-v0", num_envs=num_envs, checkpoint=sim / "sim", prompt_frames=4, **kwargs)


def test_the_vector_env_steps_every_world_in_one_batch_as_single_envs_would(sim):
    envs = make_vec(sim, 3, horizon=3)
    assert type(envs.unwrapped).__name__ == "SimVectorEnv"
    obs, info = envs.reset(seed=5)
    assert obs["pov"].shape == (3, 16, 16, 3) and envs.observation_space.contains(obs)
    assert not np.array_equal(obs["pov"][0], obs["pov"][1])  # each world its own rendered prompt
    assert envs.unwrapped.sim.stepper.latents.shape[0] == 3  # one batch, not three models
    for t in range(3):
        obs, reward, terminated, truncated, info = envs.step(np.array([0, 1, 2]))
        assert reward.shape == (3,) and not terminated.any() and truncated.all() == (t == 2)
    assert len(info["final_obs"]) == 3 and info["final_obs"][0]["pov"].shape == (16, 16, 3)
    assert not np.array_equal(obs["pov"], info["final_obs"][0]["pov"][None].repeat(3, 0))  # restarted in the same step

    # a batch of one follows the single env's frames from the same latent prompt
    single = make(sim)
    single.reset(seed=0)
    prompt = {"latents": single.unwrapped.sim.stepper.latents[0], "actions": single.unwrapped.sim.stepper.frame_actions[0, 1:]}
    one = make_vec(sim, 1)
    one.reset(seed=9, options={"prompts": [prompt]})
    batched = [one.step(np.array([a]))[0]["pov"][0] for a in (0, 2, 1)]
    single.reset(seed=9, options={"prompt": prompt})
    alone = [single.step(a)[0]["pov"] for a in (0, 2, 1)]
    assert np.array_equal(np.stack(batched), np.stack(alone))


def test_the_vector_env_rejects_bad_actions_and_prompts(sim):
    envs = make_vec(sim, 2)
    envs.reset(seed=0)
    with pytest.raises(UserError, match=r"actions must be \(2,\) ints"):
        envs.step(np.array([0, 3]))
    with pytest.raises(UserError, match="one prompt per world"):
        envs.reset(options={"prompts": [None]})
    frames = envs.unwrapped.rollout(np.zeros((2, 3), np.int64))
    assert frames.shape == (2, 3, 16, 16, 3)
    with pytest.raises(UserError, match="rollout needs 2 sequences of T >= 1 actions"):
        envs.unwrapped.rollout(np.zeros((1, 3), np.int64))


def test_bench_sim_times_the_env_and_scores_fast_samplers_against_the_world_and_the_slow_one(sim):
    from millivid_env.bench.sim_bench import SimBenchConfig, run_sim_bench

    cfg = SimBenchConfig(seconds=0.2, sampler_steps=(1,), vector_batch=2, prompts=1, frames=3, slow_steps=2)
    result = run_sim_bench(sim / "sim", cfg)
    rows = result["speed"]["rows"]
    assert [(r["batch"], r["sampler_steps"], r["cache"]) for r in rows] == [
        (1, 1, "exact"), (1, 1, "incremental"), (2, 2, "exact"), (2, 2, "incremental")]
    assert all(r["frames_per_second"] > 0 and r["peak_mib"] > 0 for r in rows)
    assert rows[0]["vs_voxel_world"] == pytest.approx(rows[0]["frames_per_second"] / result["speed"]["voxel_world_frames_per_second"], rel=0.01)
    quality = {(r["sampler_steps"], r["cache"]): r for r in result["quality"]["rows"]}
    assert set(quality) == {(1, "exact"), (1, "incremental"), (2, "exact")}
    assert quality[(2, "exact")]["psnr_vs_slow_sampler"] is None and 0 < quality[(1, "incremental")]["psnr_vs_slow_sampler"] < 100
    assert 0 < quality[(1, "exact")]["psnr_vs_world"] < 100


@pytest.fixture(scope="module")
def dict_sim(tmp_path_factory):
    return tiny_sim(tmp_path_factory.mktemp("dictsim"), ActionCodec.for_space(action_space()))


def test_a_model_of_dict_actions_takes_voxel_world_actions(dict_sim):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = make(dict_sim)
    assert env.action_space == action_space()
    check_env(env.unwrapped, skip_render_check=True)
    with pytest.warns(UserWarning, match="not supported by Stable Baselines 3"):  # its agents take no Dict actions
        sb3_check_env(make(dict_sim).unwrapped)
    env.reset(seed=0)
    walk = [macro_tick_action(0), noop(), macro_tick_action(1), {**noop(), "attack": 1, "camera": np.array([-3.0, 7.0])}]
    a, b = frames_after(make(dict_sim), 3, walk), frames_after(make(dict_sim), 3, walk)
    assert np.array_equal(a, b)
    assert not np.array_equal(a[1:], frames_after(make(dict_sim), 3, walk[::-1])[1:])
    assert type(env.unwrapped.world.unwrapped).__name__ == "VoxelWorldEnv"  # its prompt rendered one tick a frame
    assert env.unwrapped.rollout(walk).shape == (4, 16, 16, 3)
    with pytest.raises(UserError, match="unknown action keys"):
        env.step({"fly": 1})
    with pytest.raises(UserError, match="action must be a dict"):
        env.step(0)
    with pytest.raises(UserError, match="needs 1 actions, got 2"):
        env.reset(options={"prompt": {"latents": np.zeros((2, 21, 4)), "actions": [noop(), noop()]}})

    envs = gym.make_vec("millivid/Sim-v0", num_envs=2, checkpoint=dict_sim / "sim", prompt_frames=4)
    envs.reset(seed=0)
    obs, *_ = envs.step(envs.action_space.sample())
    assert obs["pov"].shape == (2, 16, 16, 3)
    with pytest.raises(UserError, match="one row per world"):
        envs.step({"camera": np.zeros((3, 2))})
    with pytest.raises(UserError, match="reads discrete actions"):
        from millivid_env.sim.reward_head import RewardHead, RewardHeadConfig, save_head

        save_head(dict_sim / "head", RewardHead(RewardHeadConfig(features=21 * 4, tokenizer_id=tokenizer_id(dict_sim / "tok"))), {})
        make(dict_sim, reward_head=dict_sim / "head")


def test_the_shipped_checkpoint_plays_without_a_dataset():
    from millivid_env.sim.simulation import DEFAULT_CHECKPOINT

    assert (DEFAULT_CHECKPOINT / "MODEL_CARD.md").is_file()
    env = gym.make("millivid/Sim-v0")
    obs, info = env.reset(seed=0)
    assert obs["pov"].shape == (64, 64, 3) and info["prompt_frames"] == 16
    obs, *_ = env.step(0)
    assert obs["pov"].shape == (64, 64, 3) and obs["pov"].std() > 5  # a picture, not a flat colour
