import json
import subprocess
import sys

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
from millivid_env.models.tokenizer_training import frame_batches, tokenizer_loss
from millivid_env.models.trainer import TrainConfig, train
from millivid_env.record import layout
from tests.models.test_tokenizer import SMALL


def small_run(tmp_path, small_dataset, steps, resume=False, name="run"):
    model = Tokenizer(SMALL)
    batches = frame_batches(small_dataset, 8, "all", 0, torch.device("cpu"))
    return model, train(model, SMALL, batches, tokenizer_loss, tmp_path / name,
                        TrainConfig(steps=steps, warmup=2, eval_every=2, save_every=2), evaluate=lambda m: {"x": 1.0}, resume=resume)


def test_training_lowers_the_loss(small_dataset):
    torch.manual_seed(0)
    model = Tokenizer(SMALL)
    batches = frame_batches(small_dataset, 16, "all", 0, torch.device("cpu"))
    fixed = next(batches)
    before = tokenizer_loss(model, fixed)[0].item()
    optimizer = torch.optim.AdamW(model.parameters(), 3e-3)
    for _ in range(30):
        loss, _ = tokenizer_loss(model, next(batches))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert tokenizer_loss(model, fixed)[0].item() < before * 0.7


def test_resume_continues_from_the_saved_step_with_the_saved_weights(tmp_path, small_dataset):
    model, result = small_run(tmp_path, small_dataset, 4)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    meta = json.loads((tmp_path / "run" / checkpoint.TRAINER_JSON).read_text())
    assert meta["step"] == 4 and len(meta["history"]) == 2
    resumed = Tokenizer(SMALL)
    checkpoint.load_weights(tmp_path / "run", resumed)
    assert all(torch.equal(saved[k], v) for k, v in resumed.state_dict().items())
    _, result = small_run(tmp_path, small_dataset, 6, resume=True)
    assert result["step"] == 6 and [h["step"] for h in result["history"]] == [2, 4, 6]
    with pytest.raises(UserError, match="already holds a checkpoint"):
        small_run(tmp_path, small_dataset, 6)


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
    result = run_tokenizer_bench(tmp_path / "learned", small_dataset, tmp_path / "bench.json", compare=(tmp_path / "cascaded",))
    assert [p["levels"] for p in result["prefixes"]] == [1, 2, 3]
    assert set(result["prefixes"][0]) >= {"levels", "psnr", "ssim", "miou", "landmark_iou"}
    assert result["encode_fps"] > 0 and result["decode_fps"] > 0 and len(result["tokenizers"]) == 2
    assert isinstance(result["beats_comparisons_at_every_prefix"], bool)
    assert (tmp_path / "bench.png").exists() and result["palette_ceiling"]["miou"] > 0.8


def test_cli_errors_are_one_line(tmp_path, small_dataset):
    for argv, message in ((["encode", "--tokenizer", str(tmp_path / "none"), "--data", "x"], "no checkpoint here"),
                          (["train-tokenizer", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "--steps", "1"], "not a dataset"),
                          (["train-tokenizer", "--data", str(small_dataset), "--out", str(tmp_path / "o"), "--steps", "1"],
                           "holds 16x16 frames; preset 'default' takes 64x64")):
        result = subprocess.run([sys.executable, "-m", "millivid_env.cli.main", *argv], capture_output=True, text=True)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


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
