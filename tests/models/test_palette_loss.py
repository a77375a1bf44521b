import json
from dataclasses import replace

import pytest
import torch

from millivid_env.models import checkpoint
from millivid_env.models.palette_loss import PaletteLoss, fitted_palette
from millivid_env.models.tokenizer import Tokenizer
from millivid_env.models.tokenizer_training import frame_batches, tokenizer_loss
from tests.models.test_tokenizer import SMALL
from tests.models.test_training_and_encode import fine_tune_cli


@pytest.fixture(scope="module")
def loss_and_batch(small_dataset):
    palette = fitted_palette(small_dataset, frames=64, split="all")
    batch = next(frame_batches(small_dataset, 16, "all", 0, torch.device("cpu")))
    return PaletteLoss(palette), batch


def shifted(images: torch.Tensor, levels: int = 12) -> torch.Tensor:
    """Colours moved by `levels` of 255 in red: 1.5 colour bins, into other classes' bins for many pixels."""
    out = images.clone()
    out[:, 0] = (out[:, 0] + levels / 255).clamp(0, 1)
    return out


def test_colours_read_right_cost_nothing_and_colours_read_wrong_cost_much(loss_and_batch):
    loss, batch = loss_and_batch
    images, block_id = batch["images"], batch["block_id"]
    assert loss(images, images, block_id).item() == 0
    assert loss(images.flip(2, 3), images, block_id).item() > 1  # mirrored: mostly other classes' colours


def test_descending_the_loss_moves_colours_back_into_their_own_class(loss_and_batch):
    loss, batch = loss_and_batch
    images, block_id = batch["images"], batch["block_id"].long()
    readable = loss.lookup(images) == block_id
    start = shifted(images)
    right_at_start = (loss.lookup(start) == block_id).unsqueeze(1).expand_as(start)
    colours = start.clone().requires_grad_()
    optimizer = torch.optim.Adam([colours], lr=0.002)
    for _ in range(100):
        optimizer.zero_grad()
        loss(colours, images, block_id).backward()
        optimizer.step()
    before = right_at_start[:, 0][readable].float().mean().item()
    after = (loss.lookup(colours) == block_id)[readable].float().mean().item()
    assert before < 0.75 and after > 0.85  # the rest have no bin of their class next to their colour
    assert torch.equal(colours.detach()[right_at_start], start[right_at_start])  # read right: left alone


def test_pixels_whose_true_colour_the_lookup_misreads_are_left_out(loss_and_batch):
    loss, batch = loss_and_batch
    images, block_id = batch["images"], batch["block_id"].clone()
    block_id[:, :4] = 255  # no colour reads as this id
    wrong = shifted(images)
    spoiled = wrong.clone()
    spoiled[:, :, :4] = torch.rand_like(spoiled[:, :, :4])
    assert loss(wrong, images, block_id).item() > 0
    assert loss(spoiled, images, block_id).item() == pytest.approx(loss(wrong, images, block_id).item(), rel=1e-6)


def test_interpolated_log_probability_has_exact_gradients(loss_and_batch):
    loss, batch = loss_and_batch
    exact = PaletteLoss.__new__(PaletteLoss)
    torch.nn.Module.__init__(exact)
    for name, buffer in loss.named_buffers():
        exact.register_buffer(name, buffer.double() if buffer.is_floating_point() else buffer)
    colours = torch.rand(1, 3, 3, 3, dtype=torch.float64).mul(0.9).add(0.05).requires_grad_()
    assert torch.autograd.gradcheck(lambda c: exact.log_prob(c, batch["block_id"][:1, :3, :3]), (colours,), eps=1e-6, atol=1e-4)


def test_the_tokenizer_loss_adds_the_palette_term_only_when_weighted(loss_and_batch):
    loss, batch = loss_and_batch
    for weight, expected in ((0.0, {"l2", "ssim"}), (0.01, {"l2", "ssim", "palette"})):
        model = Tokenizer(replace(SMALL, palette_weight=weight))
        assert set(tokenizer_loss(model, batch, loss)[1]) == expected
    assert set(tokenizer_loss(model, {"images": batch["images"]}, loss)[1]) == {"l2", "ssim"}


def test_init_fine_tunes_from_a_runs_weights_with_new_loss_weights(tmp_path, small_dataset):
    base = Tokenizer(SMALL)
    checkpoint.save_model(tmp_path / "base", base, SMALL, {"step": 7})
    flags = ("--palette-weight", "0.01", "--lr", "0")
    result = fine_tune_cli(small_dataset, tmp_path / "base", tmp_path / "tuned", *flags)
    assert result.returncode == 0, result.stderr[-2000:]
    saved = json.loads((tmp_path / "tuned" / checkpoint.CONFIG_FILE).read_text())
    assert saved["config"]["palette_weight"] == 0.01 and saved["config"]["image_size"] == SMALL.image_size
    assert saved["card"]["init"]["step"] == 7
    tuned = Tokenizer(SMALL)
    checkpoint.load_weights(tmp_path / "tuned", tuned)
    assert all(torch.equal(v, tuned.state_dict()[k]) for k, v in base.state_dict().items())  # lr 0: the init weights
    missing = fine_tune_cli(small_dataset, tmp_path / "nowhere", tmp_path / "tuned", *flags)
    assert missing.returncode == 2 and "no checkpoint here" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / checkpoint.CONFIG_FILE).write_text(json.dumps({"config": {"hidden": 8}}))
    other = fine_tune_cli(small_dataset, tmp_path / "other", tmp_path / "tuned", *flags)
    assert other.returncode == 2 and "is not a tokenizer config" in other.stderr and "Traceback" not in other.stderr
