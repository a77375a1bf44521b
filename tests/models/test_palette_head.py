import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from millivid_env.errors import UserError
from millivid_env.metrics.semantic import PaletteClassifier
from millivid_env.models import checkpoint
from millivid_env.models.palette_head import MAX_LIGHT, PaletteRender, palette_classes
from millivid_env.models.tokenizer import Tokenizer, TokenizerConfig, get_config, load_tokenizer
from millivid_env.models.tokenizer_training import frame_batches, tokenizer_loss
from millivid_env.world import block_table
from millivid_env.world.raycast import SKY_HORIZON, SKY_ZENITH
from tests.models.test_tokenizer import SMALL
from tests.models.test_training_and_encode import fine_tune_cli

PALETTE = replace(SMALL, output="palette")


def head_output(classes: torch.Tensor, light: float, fog: float, up: float) -> torch.Tensor:
    """Head outputs (N, K + 3, 1, 1) that pick `classes` with certainty and give these scalars."""
    logits = torch.full((len(classes), palette_classes()), -50.0)
    logits[torch.arange(len(classes)), classes] = 50.0
    scalars = torch.logit(torch.tensor([light / MAX_LIGHT, fog, up])).expand(len(classes), 3)
    return torch.cat([logits, scalars], 1)[..., None, None]


def test_a_confident_pixel_gets_the_renderers_colour_and_reads_as_its_class():
    render, table = PaletteRender(), block_table()
    ids = [b.id for b in table.blocks]
    colours, logits = render(head_output(torch.arange(len(ids)), light=0.8, fog=0.25, up=0.5))
    assert logits.shape == (len(ids), len(ids), 1, 1)
    horizon, zenith = np.array(SKY_HORIZON), np.array(SKY_ZENITH)
    expected = table.palette[ids] * 0.8 + 0.25 * horizon  # lit = shade x (1 - fog), then fog x horizon
    expected[0] = horizon + 0.5 * (zenith - horizon)  # sky: half way up
    assert np.allclose(colours[..., 0, 0].numpy(), expected, atol=1e-4)
    # on an x face (shade 0.8) without fog, the metric's lookup reads every class's colour as that
    # class (elsewhere a few classes' shades overlap: stone's top face is planks' colour in the lookup)
    plain, _ = render(head_output(torch.arange(len(ids)), light=0.8, fog=1e-6, up=1e-6))
    rgb = (plain[..., 0, 0].clamp(0, 1) * 255 + 0.5).byte().numpy()
    assert PaletteClassifier()(rgb).tolist() == ids


def test_block_ids_map_to_the_heads_classes_and_unknown_ids_are_ignored():
    render = PaletteRender()
    landmark = block_table().landmarks[0]
    index = render.classes_of(torch.tensor([0, 1, landmark.id, 200]))
    assert index[:2].tolist() == [0, 1] and render.palette[index[2]].tolist() == pytest.approx(block_table().palette[landmark.id].tolist())
    assert index[3].item() == -100  # cross-entropy's ignore index


@pytest.mark.parametrize("preset, size", [("default", 64), ("paper", 256)])
def test_palette_output_at_both_scales(preset, size):
    model, frame = Tokenizer(get_config(preset, output="palette")).eval(), torch.rand(1, 3, size, size)
    with torch.no_grad():
        images, logits = model(frame, classes=True)
        assert torch.equal(model.decode(model.encode(frame)), images)
    assert images.shape == (1, 3, size, size) and logits.shape == (1, palette_classes(), size, size)
    assert 0 <= images.min() and images.max() <= MAX_LIGHT + 1  # a render of palette colours, not free values


def test_output_and_class_weight_are_checked():
    with pytest.raises(ValueError, match="output must be one of"):
        TokenizerConfig(output="labels")
    with pytest.raises(ValueError, match="class_weight needs output='palette'"):
        TokenizerConfig(class_weight=0.1)
    with pytest.raises(ValueError, match="class logits need output='palette'"):
        Tokenizer(SMALL)(torch.rand(1, 3, 16, 16), classes=True)


def test_the_class_loss_trains_the_logits_toward_the_block_ids(small_dataset):
    torch.manual_seed(0)
    model = Tokenizer(replace(PALETTE, class_weight=1.0))
    batches = frame_batches(small_dataset, 8, "all", 0, torch.device("cpu"), in_memory=True)
    fixed = next(batches)
    before = tokenizer_loss(model, fixed)[1]["ce"]
    optimizer = torch.optim.AdamW(model.parameters(), 3e-3)
    for _ in range(30):
        loss, _ = tokenizer_loss(model, next(batches))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert tokenizer_loss(model, fixed)[1]["ce"] < 0.5 * before
    assert "ce" not in tokenizer_loss(Tokenizer(PALETTE), fixed)[1]  # class_weight 0: colours only


def test_a_palette_checkpoint_keeps_its_palette_and_round_trips(tmp_path):
    model = Tokenizer(PALETTE).eval()
    checkpoint.save_model(tmp_path / "run", model, PALETTE, {"step": 1})
    loaded = load_tokenizer(tmp_path / "run")
    images = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(images), loaded(images))
    assert "decoder.render.palette" in loaded.state_dict()


def test_init_from_an_rgb_run_keeps_the_body_and_starts_the_head_fresh(tmp_path, small_dataset):
    base = Tokenizer(SMALL)
    checkpoint.save_model(tmp_path / "base", base, SMALL, {"step": 0})
    result = fine_tune_cli(small_dataset, tmp_path / "base", tmp_path / "run", "--output", "palette", "--class-weight", "0.01",
                           "--lr", "0")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "the new head starts fresh (decoder.to_image." in result.stdout
    saved = json.loads((tmp_path / "run" / checkpoint.CONFIG_FILE).read_text())["config"]
    assert saved["output"] == "palette" and saved["class_weight"] == 0.01
    tuned = load_tokenizer(tmp_path / "run").state_dict()
    head = {f"decoder.{k}" for k in Tokenizer(PALETTE).decoder.head_names()}
    # lr 0: every tensor but the head is the base run's, exactly
    assert all(torch.equal(v, tuned[k]) for k, v in base.state_dict().items() if k not in head)
    # without the new output, the same head mismatch is an error, as for any other shape
    with pytest.raises(UserError, match="does not fit this model: missing decoder.render.palette"):
        checkpoint.load_weights(tmp_path / "base", Tokenizer(PALETTE))
    refused = fine_tune_cli(small_dataset, tmp_path / "base", tmp_path / "other", "--class-weight", "0.01")
    assert refused.returncode == 2 and "class_weight needs output='palette'" in refused.stderr
