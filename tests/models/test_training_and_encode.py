import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from millivid_env.bench.tokenizer_bench import run_tokenizer_bench
from millivid_env.cli.main import main
from millivid_env.data.windows import WindowDataset
from millivid_env.errors import UserError
from millivid_env.models import checkpoint
from millivid_env.models.encode import encode_dataset
from millivid_env.models.tokenizer import Tokenizer, load_tokenizer
from millivid_env.models.tokenizer_training import (
    class_balance_weights, frame_batches, pyramid_l2, random_prefixes, tokenizer_loss,
)
from millivid_env.models.trainer import TrainConfig, autocast_for, train, training_step
from millivid_env.record import layout
from tests.models.test_tokenizer import SMALL


def small_run(tmp_path, small_dataset, steps, resume=False, name="run", ema=0.9):
    model = Tokenizer(SMALL)
    batches = frame_batches(small_dataset, 8, "all", 0, torch.device("cpu"))
    return model, train(model, SMALL, batches, tokenizer_loss, tmp_path / name,
                        TrainConfig(steps=steps, warmup=2, eval_every=2, save_every=2, ema=ema), evaluate=lambda m: {"x": 1.0},
                        resume=resume)


def train_steps(model: Tokenizer, batches, steps: int = 30) -> None:
    """The trainer's step at a fixed learning rate, no schedule: enough to see the loss move."""
    optimizer = torch.optim.AdamW(model.parameters(), 3e-3)
    for _ in range(steps):
        training_step(model, optimizer, tokenizer_loss, next(batches), 3e-3, 1.0, autocast_for(torch.device("cpu")))


def test_the_loss_logs_detached_tensors_that_cost_no_sync_until_read(small_dataset):
    model = Tokenizer(replace(SMALL, class_head=True, class_weight=0.1, palette_weight=0.0))
    loss, logs = tokenizer_loss(model, next(frame_batches(small_dataset, 4, "all", 0, torch.device("cpu"))))
    assert loss.requires_grad and set(logs) == {"l2", "ssim", "ce"}
    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 and not v.requires_grad for v in logs.values())


def test_training_lowers_the_loss(small_dataset):
    torch.manual_seed(0)
    model = Tokenizer(SMALL)
    batches = frame_batches(small_dataset, 16, "all", 0, torch.device("cpu"), in_memory=True)
    fixed = next(batches)
    before = tokenizer_loss(model, fixed)[0].item()
    train_steps(model, batches)
    assert tokenizer_loss(model, fixed)[0].item() < before * 0.7


def test_train_tokenizer_flushes_subnormal_floats_to_zero(tmp_path, small_dataset):

    checkpoint.save_model(tmp_path / "base", Tokenizer(SMALL), SMALL, {"step": 0})
    assert main(["train-tokenizer", "--data", str(small_dataset), "--out", str(tmp_path / "run"), "--init", str(tmp_path / "base"),
                 "--steps", "1", "--ema", "0", "--batch", "4"]) == 0
    assert torch.tensor([1e-40]).item() == 0.0  # subnormal in float32: slow on the CPU unless flushed


def test_resume_continues_from_the_saved_step_with_the_saved_weights(tmp_path, small_dataset):
    model, result = small_run(tmp_path, small_dataset, 4)
    raw = {k: v.clone() for k, v in model.state_dict().items()}
    meta = json.loads((tmp_path / "run" / checkpoint.TRAINER_JSON).read_text())
    assert meta["step"] == 4 and len(meta["history"]) == 2 and set(meta["history"][0]) == {"step", "seconds", "x", "raw_x"}
    published, restored = Tokenizer(SMALL), Tokenizer(SMALL)
    checkpoint.load_weights(tmp_path / "run", published)  # the moving average, not the last step's weights
    assert not all(torch.equal(raw[k], v) for k, v in published.state_dict().items())
    checkpoint.load_trainer(tmp_path / "run", torch.optim.AdamW(restored.parameters()), restored)
    assert all(torch.equal(raw[k], v) for k, v in restored.state_dict().items())
    _, result = small_run(tmp_path, small_dataset, 6, resume=True)
    assert result["step"] == 6 and [h["step"] for h in result["history"]] == [2, 4, 6]
    with pytest.raises(UserError, match="already holds a checkpoint"):
        small_run(tmp_path, small_dataset, 6)


@pytest.mark.parametrize("in_memory", [False, True])
def test_a_resumed_run_draws_new_batches(tmp_path, small_dataset, in_memory):
    small_run(tmp_path, small_dataset, 4)
    start = checkpoint.trainer_step(tmp_path / "run")
    assert start == 4 and checkpoint.trainer_step(tmp_path / "nothing") == 0
    first = lambda s: next(frame_batches(small_dataset, 8, "all", 0, torch.device("cpu"), in_memory=in_memory, start=s))["images"]
    assert torch.equal(first(0), first(0)) and torch.equal(first(start), first(start))
    assert not torch.equal(first(0), first(start))


def test_the_weight_average_warms_up_and_keeps_counters_as_they_are():
    from torch.optim.swa_utils import AveragedModel

    from millivid_env.models.trainer import ema_update

    model = torch.nn.Sequential(torch.nn.Linear(2, 1, bias=False), torch.nn.BatchNorm1d(1))
    average = AveragedModel(model, multi_avg_fn=ema_update(0.999), use_buffers=True)
    start = model[0].weight.detach().clone()
    with torch.no_grad():
        average.update_parameters(model)  # the first update copies
        model[0].weight.fill_(1.0)
        model[1].num_batches_tracked.fill_(7)
        average.update_parameters(model)
    # The second update decays by min(0.999, 2/11): the average moves 9/11 of the way, not 1/1000.
    assert torch.allclose(average.module[0].weight, start * 2 / 11 + 9 / 11)
    assert average.module[1].num_batches_tracked.item() == 7


@pytest.mark.parametrize("final", [0.1, 0.01])
def test_the_schedule_warms_up_then_decays_to_the_final_fraction(final):
    from millivid_env.models.trainer import lr_at

    cfg = TrainConfig(steps=1000, lr=2e-3, warmup=100, final_lr=final)
    lrs = [lr_at(step, cfg) for step in range(cfg.steps + 1)]
    assert lrs[0] == pytest.approx(2e-5) and lrs[99] == pytest.approx(2e-3)
    assert all(a >= b for a, b in zip(lrs[99:], lrs[100:]))
    assert lrs[550] == pytest.approx(2e-3 * (1 + final) / 2) and lrs[-1] == pytest.approx(2e-3 * final)


def test_without_averaging_the_model_file_holds_the_last_weights(tmp_path, small_dataset):
    model, _ = small_run(tmp_path, small_dataset, 2, ema=0)
    saved = Tokenizer(SMALL)
    checkpoint.load_weights(tmp_path / "run", saved)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.state_dict().items())


def test_encode_writes_every_frames_latents_and_skips_done_work(tmp_path, small_dataset):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(small_dataset, data)
    checkpoint.save_model(tmp_path / "tok", Tokenizer(SMALL), SMALL)
    assert encode_dataset(tmp_path / "tok", data, batch=16) == {"encoded": 3, "already_done": 0}
    model = load_tokenizer(tmp_path / "tok")
    ref = layout.episode_refs(data)[2]
    with layout.open_shard(ref.shard) as f:
        g = f[ref.name]
        assert [g[f"latents/level_{k}"].shape for k in range(3)] == [(41, 16, 4), (41, 4, 4), (41, 1, 4)]
        rgb = torch.from_numpy(g["obs/rgb"][7:9]).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            expected = model.encode(rgb)[1].numpy()
        assert np.allclose(g["latents/level_1"][7:9], expected, atol=2e-3)
    assert encode_dataset(tmp_path / "tok", data, batch=16) == {"encoded": 0, "already_done": 3}
    window = WindowDataset(data, 4, split="all")[0]
    assert window["latents/level_0"].shape == (4, 16, 4)


def test_encode_refuses_frames_of_another_size(tmp_path, small_dataset):
    from millivid_env.models.tokenizer import TokenizerConfig

    cfg = TokenizerConfig(image_size=32, patch=4, levels=3, channels=4, width=8, decoder_width=16)
    checkpoint.save_model(tmp_path / "tok", Tokenizer(cfg), cfg)
    with pytest.raises(UserError, match="holds 16x16 frames; the tokenizer takes 32x32"):
        encode_dataset(tmp_path / "tok", small_dataset)


def test_bench_tokenizer_reports_every_prefix_side_by_side(tmp_path, small_dataset):
    from millivid_env.models.tokenizer import TokenizerConfig

    checkpoint.save_model(tmp_path / "learned", Tokenizer(SMALL), SMALL)
    cascaded = TokenizerConfig(**{**SMALL.__dict__, "pyramid": "cascaded"})
    checkpoint.save_model(tmp_path / "cascaded", Tokenizer(cascaded), cascaded)
    wider = TokenizerConfig(**{**SMALL.__dict__, "width": 16})  # differs in more than the pyramid: no pair
    checkpoint.save_model(tmp_path / "wider", Tokenizer(wider), wider)
    result = run_tokenizer_bench(tmp_path / "learned", small_dataset, tmp_path / "bench.json",
                                 compare=(tmp_path / "cascaded", tmp_path / "wider"))
    assert [p["levels"] for p in result["prefixes"]] == [1, 2, 3]
    assert set(result["prefixes"][0]) >= {"levels", "psnr", "ssim", "miou", "landmark_iou", "class_iou", "landmark_iou_by_cover"}
    assert list(result["prefixes"][0]["landmark_iou_by_cover"]) == ["<1%", "1-5%", "5-20%", ">=20%"]
    assert "landmark IoU, cover >=20% (" in result["table"]
    assert "grass" in result["prefixes"][0]["class_iou"]
    assert result["encode_fps"] > 0 and result["decode_fps"] > 0 and len(result["tokenizers"]) == 3
    [pair] = result["pyramid_ablations"]
    assert (pair["learned"], pair["cascaded"]) == ("learned (learned)", "cascaded (cascaded)")
    assert len(pair["psnr_gain_per_prefix"]) == 3 and isinstance(pair["learned_wins_every_prefix"], bool)
    assert (tmp_path / "bench.png").exists() and result["palette_ceiling"]["miou"] > 0.8
    assert [(r["kind"], round(r["psnr"])) for r in result["degraded_originals"]] == [(k, p) for k in ("noise", "blur") for p in (30, 36, 42)]
    assert "original frames, blurred, sigma" in result["table"]
    # per-episode PSNR: the odd episodes evaluated, averaging back to the all-levels figure
    learned = result["tokenizers"]["learned (learned)"]
    per_episode = learned["episode_psnr"]
    assert per_episode and all(name[-1] in "13579" for name in per_episode)
    assert min(per_episode.values()) - 1e-4 <= learned["prefixes"][-1]["psnr"] <= max(per_episode.values()) + 1e-4
    assert f"| {next(iter(per_episode))} | " in result["table"]


def test_cli_errors_are_one_line(tmp_path, small_dataset):
    for argv, message in ((["encode", "--tokenizer", str(tmp_path / "none"), "--data", "x"], "no checkpoint here"),
                          (["train-tokenizer", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "--steps", "1"], "not a dataset"),
                          (["train-tokenizer", "--data", str(small_dataset), "--out", str(tmp_path / "o"), "--steps", "1"],
                           "holds 16x16 frames; preset 'default' takes 64x64"),
                          (["train-tokenizer", "--data", "x", "--out", "o", "--ema", "1.5"], "ema is a decay in [0, 1), got 1.5"),
                          (["train-tokenizer", "--data", "x", "--out", "o", "--palette-weight", "-1"], "palette_weight must be >= 0, got -1.0"),
                          (["train-tokenizer", "--data", "x", "--out", "o", "--explorers", "revist"],
                           "--explorers: explorers are look_around, random, revisit, seek, uniform; got 'revist'")):
        result = subprocess.run([sys.executable, "-m", "millivid_env.cli.main", *argv], capture_output=True, text=True)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def fine_tune_cli(data, init, out, *flags: str) -> subprocess.CompletedProcess:
    """`millivid train-tokenizer --init RUN` for one small step, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "millivid_env.cli.main", "train-tokenizer", "--data", str(data),
                           "--out", str(out), "--init", str(init), "--steps", "1", "--ema", "0", "--batch", "4", *flags],
                          capture_output=True, text=True)


def test_model_and_schedule_flags_reach_the_run(tmp_path, small_dataset):
    checkpoint.save_model(tmp_path / "base", Tokenizer(SMALL), SMALL, {"step": 0})
    result = fine_tune_cli(small_dataset, tmp_path / "base", tmp_path / "run", "--activation", "silu", "--final-lr", "0.05",
                           "--keep-all", "1", "--warmup", "3")
    assert result.returncode == 0, result.stderr[-2000:]
    saved = json.loads((tmp_path / "run" / checkpoint.CONFIG_FILE).read_text())
    assert saved["config"]["activation"] == "silu" and saved["card"]["train"]["final_lr"] == 0.05
    assert saved["config"]["keep_all"] == 1.0 and saved["card"]["train"]["warmup"] == 3  # every level, every sample
    assert saved["card"]["frames"] == "memory"  # --frames auto: the small dataset fits
    assert "SiLU" in {type(m).__name__ for m in load_tokenizer(tmp_path / "run").modules()}


def test_explorers_flag_picks_the_training_episodes(tmp_path, small_dataset):
    checkpoint.save_model(tmp_path / "base", Tokenizer(SMALL), SMALL, {"step": 0})
    result = fine_tune_cli(small_dataset, tmp_path / "base", tmp_path / "run", "--explorers", "revisit", "--frames", "disk")
    assert result.returncode == 0, result.stderr[-2000:]
    card = json.loads((tmp_path / "run" / checkpoint.CONFIG_FILE).read_text())["card"]
    assert card["explorers"] == ["revisit"] and card["frames"] == "disk"
    none = fine_tune_cli(small_dataset, tmp_path / "base", tmp_path / "other", "--explorers", "random,look_around")
    assert none.returncode == 2 and "no train random/look_around frames to train on" in none.stderr
    assert not (tmp_path / "other" / checkpoint.CONFIG_FILE).exists()


@pytest.mark.slow
def test_torchrun_ddp_with_gloo_on_two_processes(tmp_path):
    from millivid_env.record.collect import collect
    from tests.conftest import small_recipe

    data = tmp_path / "data64"
    collect(small_recipe(episodes=2, frames=20, env_kwargs={"size": [64, 64]}), data)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "millivid_env.cli.main",
           "train-tokenizer", "--data", str(data), "--out", str(tmp_path / "ddp"), "--steps", "4",
           "--batch", "4", "--preset", "tiny", "--eval-every", "2"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    meta = json.loads((tmp_path / "ddp" / checkpoint.TRAINER_JSON).read_text())
    assert meta["step"] == 4


def test_keep_all_sends_a_share_of_the_batch_through_every_level():
    uniform = random_prefixes(replace(SMALL, keep_all=0.0), 40_000)
    share = torch.bincount(uniform, minlength=4)[1:] / 40_000
    assert torch.allclose(share, torch.full((3,), 1 / 3), atol=0.01)
    skewed = torch.bincount(random_prefixes(replace(SMALL, keep_all=0.4), 40_000), minlength=4)[1:] / 40_000
    # 0.4 keep all 3 levels, the other 0.6 draw uniformly: 0.2 per prefix, 0.6 for all levels.
    assert torch.allclose(skewed, torch.tensor([0.2, 0.2, 0.6]), atol=0.01)


def test_class_balance_lifts_rare_classes_and_keeps_the_mean():
    block_id = torch.zeros(2, 8, 8, dtype=torch.uint8)
    block_id[0, 0, :2] = 17  # a 2-pixel landmark among 126 grass pixels
    weights = class_balance_weights(block_id, power=0.5)
    assert weights.shape == (2, 1, 8, 8)
    assert weights.mean().item() == pytest.approx(1.0, rel=1e-5)
    rare, common = weights[0, 0, 0, 0].item(), weights[1, 0, 5, 5].item()
    assert rare / common == pytest.approx((126 / 2) ** 0.5, rel=1e-4)  # n^-0.5 per pixel
    assert class_balance_weights(block_id, power=0.0).eq(1).all()
    assert class_balance_weights(block_id, power=2.0, cap=5.0).max().item() == pytest.approx(5.0)


def test_weighted_pyramid_l2_matches_plain_l2_under_unit_weights_and_follows_the_weights():
    torch.manual_seed(0)
    pred, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    plain = pyramid_l2(pred, target, 3)
    assert pyramid_l2(pred, target, 3, torch.ones(2, 1, 16, 16)).item() == pytest.approx(plain.item(), rel=1e-6)
    # An error only where the weight is 0 costs nothing at the finest scale.
    weight = torch.ones(2, 1, 16, 16)
    weight[:, :, :8] = 0
    spoiled = target.clone()
    spoiled[:, :, :8] += 0.5
    assert pyramid_l2(spoiled, target, 1, weight).item() == 0
    assert pyramid_l2(spoiled, target, 1).item() > 0


def test_the_loss_uses_block_ids_only_when_the_batch_has_them(small_dataset):
    batch = next(frame_batches(small_dataset, 4, "all", 0, torch.device("cpu")))
    assert batch["images"].shape[0] == 4 and batch["block_id"].shape == batch["images"].shape[:1] + batch["images"].shape[2:]
    model = Tokenizer(SMALL)
    torch.manual_seed(0)
    weighted = tokenizer_loss(model, batch)[0].item()
    torch.manual_seed(0)
    plain = tokenizer_loss(model, {"images": batch["images"]})[0].item()
    assert weighted != pytest.approx(plain)


@pytest.mark.parametrize("flag, value, wrong", [("--token-blocks", "3", "missing decoder.blocks.6."),
                                                ("--encoder-blocks", "1", "missing encoder.blocks.0."),
                                                ("--pixel-blocks", "2", "missing decoder.to_image."),
                                                ("--pixel-width", "24", "decoder.to_image.")])
def test_shape_flags_reach_the_model_and_a_mismatched_init_says_so(tmp_path, small_dataset, flag, value, wrong):
    checkpoint.save_model(tmp_path / "base", Tokenizer(SMALL), SMALL, {"step": 0})
    result = fine_tune_cli(small_dataset, tmp_path / "base", tmp_path / "run", flag, value)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "does not fit this model: " in result.stderr and wrong in result.stderr
    assert not (tmp_path / "run" / checkpoint.MODEL_FILE).exists()
