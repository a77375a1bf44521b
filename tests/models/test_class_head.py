import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from millivid_env.bench.tokenizer_bench import paint, run_tokenizer_bench
from millivid_env.errors import UserError
from millivid_env.models import checkpoint
from millivid_env.models.class_head import IGNORE, ClassHead
from millivid_env.models.tokenizer import Tokenizer, TokenizerConfig, get_config, load_tokenizer
from millivid_env.models.tokenizer_training import frame_batches, tokenizer_loss
from millivid_env.world import block_table
from millivid_env.world.raycast import SKY_HORIZON
from tests.models.test_tokenizer import SMALL
from tests.models.test_training_and_encode import fine_tune_cli, train_steps

HEADED = replace(SMALL, class_head=True)


def test_block_ids_and_classes_map_both_ways():
    head, table = ClassHead([8]), block_table()
    ids = [b.id for b in table.blocks]
    assert head.classes_of(torch.tensor(ids)).tolist() == list(range(len(ids)))
    assert head.classes_of(torch.tensor([200])).item() == IGNORE  # not a block: left out of the loss
    logits = torch.zeros(1, len(ids), 1, 2)
    logits[0, 3, 0, 0] = logits[0, len(ids) - 1, 0, 1] = 1.0
    assert head.block_ids_of(logits).tolist() == [[[ids[3], ids[-1]]]]


@pytest.mark.parametrize("preset, size", [("default", 64), ("paper", 256)])
def test_the_class_map_comes_with_the_same_image_at_both_scales(preset, size):
    model, frame = Tokenizer(get_config(preset, class_head=True)).eval(), torch.rand(1, 3, size, size)
    with torch.no_grad():
        images, logits = model(frame, classes=True)
        assert torch.equal(model(frame), images)  # the head reads the colours' features, it does not change them
    assert logits.shape == (1, len(block_table().blocks), size, size)


def test_class_head_settings_are_checked():
    with pytest.raises(ValueError, match="class_weight needs class_head"):
        TokenizerConfig(class_weight=0.1)
    with pytest.raises(ValueError, match="class logits need a tokenizer with class_head"):
        Tokenizer(SMALL)(torch.rand(1, 3, 16, 16), classes=True)


def test_the_head_reads_as_many_decoder_stages_as_class_scales():
    with pytest.raises(ValueError, match="class_scales must be 1..4"):
        TokenizerConfig(class_head=True, class_scales=5)
    one, every = (Tokenizer(get_config("default", class_head=True, class_scales=n)).decoder.classes for n in (1, 4))
    assert len(one.coarse) == 0 and one.conv.in_channels == 16  # the full-resolution features only
    assert [c.in_channels for c in every.coarse] == [96, 48, 24] and every.conv.in_channels == 16  # token grid, 16x16, 32x32
    assert get_config("default", class_head=True).head_scales == 4  # class_scales 0: every resolution


def test_the_class_loss_trains_the_head_toward_the_block_ids(small_dataset):
    torch.manual_seed(0)
    model = Tokenizer(replace(HEADED, class_weight=1.0))
    batches = frame_batches(small_dataset, 8, "all", 0, torch.device("cpu"), in_memory=True)
    fixed = next(batches)
    before = tokenizer_loss(model, fixed)[1]["ce"]
    train_steps(model, batches)
    assert tokenizer_loss(model, fixed)[1]["ce"] < 0.5 * before
    assert "ce" not in tokenizer_loss(Tokenizer(HEADED), fixed)[1]  # class_weight 0: the head is not trained


def test_adding_a_head_to_a_trained_run_keeps_every_other_weight(tmp_path, small_dataset):
    base = Tokenizer(SMALL)
    checkpoint.save_model(tmp_path / "base", base, SMALL, {"step": 0})
    result = fine_tune_cli(small_dataset, tmp_path / "base", tmp_path / "run", "--class-head", "--class-weight", "0.01", "--lr", "0")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "has no class head; the new one starts fresh" in result.stdout
    saved = json.loads((tmp_path / "run" / checkpoint.CONFIG_FILE).read_text())["config"]
    assert saved["class_head"] is True and saved["class_weight"] == 0.01
    tuned = load_tokenizer(tmp_path / "run").state_dict()
    assert all(torch.equal(v, tuned[k]) for k, v in base.state_dict().items())  # lr 0: the base run's, exactly
    with pytest.raises(UserError, match="does not fit this model: missing decoder.classes"):
        checkpoint.load_weights(tmp_path / "base", Tokenizer(HEADED))  # only --init may add a head
    refused = fine_tune_cli(small_dataset, tmp_path / "base", tmp_path / "other", "--class-weight", "0.01")
    assert refused.returncode == 2 and "class_weight needs class_head" in refused.stderr


def test_the_bench_scores_the_class_map_beside_the_colour_lookup(tmp_path, small_dataset):
    model = Tokenizer(HEADED).eval()
    checkpoint.save_model(tmp_path / "headed", model, HEADED, {"step": 1})
    checkpoint.save_model(tmp_path / "plain", Tokenizer(SMALL), SMALL, {"step": 1})
    results = run_tokenizer_bench(tmp_path / "headed", small_dataset, tmp_path / "bench.json", compare=(tmp_path / "plain",))
    headed, plain = (results["tokenizers"][f"{n} (learned)"]["prefixes"] for n in ("headed", "plain"))
    assert all("class_head" not in r for r in plain)
    for row in headed:
        scores = row["class_head"]
        assert 0 <= scores["miou"] <= 1 and set(scores["landmark_iou_by_cover"]) == set(row["landmark_iou_by_cover"])
    assert "| headed (learned) | 3 | " in results["table"].split("class head: block mIoU")[1]


def test_class_maps_are_painted_in_their_classes_colours():
    table = block_table()
    landmark = table.landmarks[0]
    painted = paint(np.array([[0, landmark.id]], np.uint8))
    assert painted.shape == (2, 4, 3)  # 2x, like the grid's frames

    def to_bytes(colour):
        return (np.asarray(colour, np.float32) * 255 + 0.5).astype(np.uint8).tolist()

    assert painted[0, 0].tolist() == to_bytes(SKY_HORIZON)  # sky has no block colour: the horizon's
    assert painted[0, 2].tolist() == to_bytes(table.palette[landmark.id]) == list(landmark.colour)


def test_freeze_tokenizer_trains_the_class_head_alone(tmp_path, small_dataset):
    base = Tokenizer(HEADED)
    checkpoint.save_model(tmp_path / "base", base, HEADED, {"step": 0})
    result = fine_tune_cli(small_dataset, tmp_path / "base", tmp_path / "run", "--freeze-tokenizer", "--class-weight", "1", "--lr", "0.01")
    assert result.returncode == 0, result.stderr[-2000:]
    tuned, before = load_tokenizer(tmp_path / "run").state_dict(), base.state_dict()
    head = [k for k in before if k.startswith("decoder.classes.") and k.endswith("weight")]
    assert head and all(not torch.equal(before[k], tuned[k]) for k in head)
    assert all(torch.equal(v, tuned[k]) for k, v in before.items() if not k.startswith("decoder.classes."))
    assert json.loads((tmp_path / "run" / checkpoint.CONFIG_FILE).read_text())["card"]["trained"].startswith("class head only")
    narrower = fine_tune_cli(small_dataset, tmp_path / "base", tmp_path / "narrower", "--freeze-tokenizer", "--class-weight", "1",
                             "--class-scales", "2")
    assert narrower.returncode == 0 and "has a different class head; the new one starts fresh" in narrower.stdout
    assert len(load_tokenizer(tmp_path / "narrower").decoder.classes.coarse) == 1
    untrained = fine_tune_cli(small_dataset, tmp_path / "base", tmp_path / "x", "--freeze-tokenizer", "--class-weight", "0")
    assert untrained.returncode != 0 and "--freeze-tokenizer trains only the class head" in untrained.stderr
