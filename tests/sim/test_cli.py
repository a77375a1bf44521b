"""train-sim and rollout from the command line, on a small collected and encoded dataset."""
import json
import shutil

import numpy as np
import pytest

from millivid_env.cli.main import main
from millivid_env.models import checkpoint
from millivid_env.models.encode import encode_dataset
from millivid_env.models.tokenizer import Tokenizer, TokenizerConfig
from millivid_env.sim.world_model import load_world_model
from tests.models.test_tokenizer import SMALL

TRAIN = ["--windows", "1,2,4", "--extra", "4", "--width", "32", "--depth", "1", "--heads", "2", "--batch", "4",
         "--plan-contexts", "1,8", "--warmup", "1", "--eval-every", "2", "--save-every", "2"]


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, small_dataset):
    root = tmp_path_factory.mktemp("sim")
    shutil.copytree(small_dataset, root / "data")
    checkpoint.save_model(root / "tok", Tokenizer(SMALL), SMALL)
    encode_dataset(root / "tok", root / "data", batch=16)
    return root


def train_sim(encoded, out, steps, *extra):
    return main(["train-sim", "--data", str(encoded / "data"), "--out", str(out), "--tokenizer", str(encoded / "tok"),
                 "--steps", str(steps), *TRAIN, *extra])


def test_train_resume_and_roll_out(encoded, tmp_path):
    assert train_sim(encoded, tmp_path / "run", 2) == 0
    first = checkpoint.read_config(tmp_path / "run")
    assert first["step"] == 2 and first["config"]["tokens"] == [16, 4, 1] and first["config"]["actions"] == 3
    assert train_sim(encoded, tmp_path / "run", 4, "--resume") == 0
    assert checkpoint.read_config(tmp_path / "run")["step"] == 4
    model = load_world_model(tmp_path / "run")
    assert model.strategy.name == "millivid" and model.cfg.width == 32 and model.tokenizer is not None
    assert float(model.denoiser.std[0].mean()) != 1.0, "the latents' statistics travel with the weights"
    out = tmp_path / "rollout"
    assert main(["rollout", "--sim", str(tmp_path / "run"), "--data", str(encoded / "data"), "--episode", "0",
                 "--context", "8", "--frames", "12", "--steps", "2", "--out", str(out)]) == 0
    arrays = np.load(out / "rollout.npz")
    assert arrays["context"].shape == (8, 16, 16, 3) and arrays["generated"].shape == arrays["truth"].shape == (12, 16, 16, 3)
    assert arrays["generated_latents"].shape == (12, 21, 4)
    summary = json.loads((out / "rollout.json").read_text())
    assert summary["steps"] == len(model.strategy.plan(8, 12)) and summary["tokens_per_step"]["max"] <= 16 + 8 + 4 + 4
    # per-frame scores for the viewer: PSNR of each generated frame against the true one
    error = ((arrays["generated"].astype(float) - arrays["truth"]) / 255) ** 2
    assert np.allclose(summary["scores"]["psnr"], -10 * np.log10(error.mean((1, 2, 3))), atol=0.01)
    assert (out / "rollout.mp4").stat().st_size > 0


def test_bad_inputs_are_one_line_errors(encoded, tmp_path, small_dataset, capsys):
    assert main(["train-sim", "--data", str(small_dataset), "--out", str(tmp_path / "x"),
                 "--tokenizer", str(encoded / "tok"), "--steps", "1", *TRAIN]) == 2
    assert "has no latents; run `millivid encode" in capsys.readouterr().err
    assert train_sim(encoded, tmp_path / "run", 1) == 0
    other = TokenizerConfig(**{**SMALL.__dict__, "width": SMALL.width * 2})
    checkpoint.save_model(tmp_path / "other", Tokenizer(other), other)
    assert main(["rollout", "--sim", str(tmp_path / "run"), "--data", str(encoded / "data"), "--tokenizer",
                 str(tmp_path / "other"), "--context", "8", "--frames", "4", "--out", str(tmp_path / "r")]) == 2
    assert "is not the tokenizer" in capsys.readouterr().err
    assert main(["rollout", "--sim", str(tmp_path / "missing"), "--data", str(encoded / "data"), "--out", str(tmp_path / "r")]) == 2
    assert "no checkpoint here" in capsys.readouterr().err
    assert main(["rollout", "--sim", str(tmp_path / "run"), "--data", str(encoded / "data"), "--context", "30",
                 "--frames", "30", "--out", str(tmp_path / "r")]) == 2
    assert "fewer than --context 30 + --frames 30" in capsys.readouterr().err
    assert main(["train-sim", "--data", str(encoded / "data"), "--out", str(tmp_path / "y"), "--tokenizer", str(encoded / "tok"),
                 "--windows", "1,2", "--steps", "1"]) == 2
    assert "one window per level" in capsys.readouterr().err


def test_bench_rollout_scores_against_the_truth_and_the_world(encoded, tmp_path):
    from millivid_env.bench.rollout_bench import RolloutBenchConfig, plot_rollout_bench, run_rollout_bench

    assert train_sim(encoded, tmp_path / "run", 1) == 0
    cfg = RolloutBenchConfig(episodes=2, context=8, frames=4, sampler_steps=(1, 2), long=8, context_sigmas=(0.0, 0.2),
                             action_frames=2, horizons=(4, 8))
    result = run_rollout_bench(tmp_path / "run", encoded / "data", cfg)
    quality = result["quality"]
    assert [r["sampler_steps"] for r in quality["by_steps"]] == [1, 2]
    assert quality["copy_last_context_frame"]["n"] == 2 and quality["copy_last_context_frame"]["mean"] > 5
    for row in quality["by_steps"]:
        assert row["psnr"]["lo"] <= row["psnr"]["mean"] <= row["psnr"]["hi"]
    assert [r["strategy"] for r in quality["by_strategy"]] == ["causal"]
    assert [len(r["psnr_by_frame"]) for r in result["drift"]["by_context_sigma"]] == [8, 8]
    action = result["action_conditioning"]
    assert action["cases"] == 2 * 3 and 0 <= action["correct"] <= 1 and np.shape(action["psnr_generated_vs_world"]) == (3, 3)
    assert [(r["strategy"], r["cases"]) for r in action["by_strategy"]] == [("causal", 6)]
    rows = result["cost"]["rows"]
    assert rows[0]["flat_whole_past"]["tokens_per_step"] < rows[1]["flat_whole_past"]["tokens_per_step"]
    assert plot_rollout_bench(result, tmp_path / "bench.png").stat().st_size > 0


def test_the_world_reset_at_a_recorded_pose_shows_the_recorded_frame(small_dataset):
    from millivid_env.bench.rollout_bench import episode_seed, world_frames
    from millivid_env.record import layout

    ref = layout.episode_refs(small_dataset)[0]
    with layout.open_shard(ref.shard) as f:
        g = f[ref.name]
        pose, rgb, taken = g["pose"][5], g["obs/rgb"][6:8], g["actions/action"][5:7]
    if taken[0] == taken[1]:
        frames = world_frames(small_dataset, episode_seed(ref), pose, int(taken[0]), 2)
        assert np.array_equal(frames, rgb)
    else:
        frames = world_frames(small_dataset, episode_seed(ref), pose, int(taken[0]), 1)
        assert np.array_equal(frames[0], rgb[0])


@pytest.mark.slow
def test_train_sim_under_torchrun_ddp(encoded, tmp_path):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "millivid_env.cli.main", "train-sim",
           "--data", str(encoded / "data"), "--out", str(tmp_path / "ddp"), "--tokenizer", str(encoded / "tok"),
           "--steps", "2", *TRAIN]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert checkpoint.read_config(tmp_path / "ddp")["card"]["batch"] == 8


def test_bench_revisit_reports_models_beside_references_and_resumes(encoded, tmp_path, monkeypatch):
    from millivid_env.bench import revisit_bench
    from millivid_env.bench.revisit_bench import RevisitBenchConfig, run_revisit_bench

    real_rollout = revisit_bench.rollout

    assert train_sim(encoded, tmp_path / "run", 1) == 0
    cfg = RevisitBenchConfig(episodes=3, context=8, frames=16, radius=6, max_yaw=180, recent=2, gap_edges=(4, 8), length_bin=8)
    report = tmp_path / "report"
    first = run_revisit_bench([tmp_path / "run"], encoded / "data", report, cfg)
    assert set(first["summary"]) == {"reconstruction", "copy", "chance", "run"}
    for entry in first["summary"].values():  # an untrained tokenizer: no ordering to expect, only sound intervals
        assert entry["psnr"]["all"]["lo"] <= entry["psnr"]["all"]["mean"] <= entry["psnr"]["all"]["hi"]
    assert first["summary"]["run"]["tokens_per_step"] <= 16 + 8 + 4 + 4
    assert sum(first["revisit_frames"].values()) > 0
    for name in ("results.json", "report.md", "revisit.png", "revisits.mp4"):
        assert (report / name).stat().st_size > 0
    assert "| run (millivid) |" in (report / "report.md").read_text()

    def killed(*args, **kwargs):
        raise AssertionError("every (episode, model) was done: nothing is rolled out again")

    with monkeypatch.context() as patched:
        patched.setattr(revisit_bench, "rollout", killed)
        again = run_revisit_bench([tmp_path / "run"], encoded / "data", report, cfg)
    assert again["summary"] == json.loads(json.dumps(first["summary"]))

    # a record saved before a metric existed is scored again, the others are kept
    stale = next((report / "episodes").glob("*.run.json"))
    saved = json.loads(stale.read_text())
    del saved["scores"]["miou_lookup"]
    stale.write_text(json.dumps(saved))
    rescored = []
    with monkeypatch.context() as patched:
        patched.setattr(revisit_bench, "rollout", lambda *a, **k: rescored.append(1) or real_rollout(*a, **k))
        run_revisit_bench([tmp_path / "run"], encoded / "data", report, cfg)
    assert len(rescored) == 1 and "miou_lookup" in json.loads(stale.read_text())["scores"]

    # other weights under the same name, or another protocol, are rolled out again, not mixed in
    assert train_sim(encoded, tmp_path / "other" / "run", 1, "--seed", "5") == 0
    rolled = []
    monkeypatch.setattr(revisit_bench, "rollout", lambda *a, **k: rolled.append(1) or real_rollout(*a, **k))
    run_revisit_bench([tmp_path / "other" / "run"], encoded / "data", report, cfg)
    assert len(rolled) == cfg.episodes


def test_train_reward_on_a_task_dataset_and_use_the_head(encoded, tmp_path, capsys):
    import gymnasium as gym

    from millivid_env.record.collect import collect
    from millivid_env.record.recipe import ExplorerSpec
    from tests.conftest import small_recipe

    reach = tmp_path / "reach"
    collect(small_recipe(env="millivid/VoxelReach-v0", episodes=22, frames=12, explorers=(ExplorerSpec("seek"),), name="reach"), reach)
    assert main(["train-reward", "--data", str(reach), "--sim", str(tmp_path / "run"), "--out", str(tmp_path / "head")]) == 2
    assert "no checkpoint here" in capsys.readouterr().err
    assert train_sim(encoded, tmp_path / "run", 1) == 0
    assert main(["train-reward", "--data", str(reach), "--sim", str(tmp_path / "run"), "--out", str(tmp_path / "head")]) == 2
    assert "has no latents; run `millivid encode" in capsys.readouterr().err
    encode_dataset(encoded / "tok", reach, batch=16)
    assert main(["train-reward", "--data", str(reach), "--sim", str(tmp_path / "run"), "--out", str(tmp_path / "head"),
                 "--steps", "20", "--batch", "16", "--generated-context", "4"]) == 0
    saved = checkpoint.read_config(tmp_path / "head")
    assert saved["config"]["task"] == "millivid/VoxelReach-v0" and saved["held_out"]["steps"] > 0  # episode 20: a test one
    # scored again where the simulator generates the frames, on the same steps as the true latents
    generated, true = saved["held_out_generated"], saved["held_out_true_after_context"]
    assert generated["steps"] == true["steps"] == saved["held_out"]["steps"] - 3 * saved["card"]["generated"]["episodes"]
    assert generated["reward_mse"] != true["reward_mse"]
    env = gym.make("millivid/Sim-v0", checkpoint=tmp_path / "run", reward_head=tmp_path / "head", prompt_frames=4)
    env.reset(seed=0)
    _, reward, terminated, _, _ = env.step(1)
    assert isinstance(reward, float) and reward != 0.0 and isinstance(terminated, bool)


def test_train_sim_on_recorded_dict_actions(tmp_path):
    from millivid_env.envs.actions import macro_tick_action
    from millivid_env.record.collect import collect
    from millivid_env.record.recipe import ExplorerSpec
    from millivid_env.sim.episodes import load_encoded
    from tests.conftest import small_recipe

    data = tmp_path / "ticks"
    collect(small_recipe(env="millivid/VoxelWorld-v0", frames=30, explorers=(ExplorerSpec("random"),), name="ticks"), data)
    checkpoint.save_model(tmp_path / "tok", Tokenizer(SMALL), SMALL)
    encode_dataset(tmp_path / "tok", data, batch=16)
    assert main(["train-sim", "--data", str(data), "--out", str(tmp_path / "run"), "--tokenizer", str(tmp_path / "tok"),
                 "--steps", "1", *TRAIN]) == 0
    cfg = load_world_model(tmp_path / "run").cfg
    assert cfg.action_codec == "minerl" and cfg.actions == cfg.codec.n
    ids = np.concatenate([e.frame_actions[1:] for e in load_encoded(data, "all", cfg.codec)])
    assert set(ids.tolist()) == {cfg.codec.encode(macro_tick_action(m)) for m in range(3)}  # the explorer's ticks
