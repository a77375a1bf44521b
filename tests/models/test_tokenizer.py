import pytest
import torch
import torch.nn.functional as F

from millivid_env.errors import UserError
from millivid_env.models import checkpoint
from millivid_env.models.tokenizer import ResBlock, Tokenizer, TokenizerConfig, get_config, load_tokenizer
from millivid_env.world import block_table

SMALL = TokenizerConfig(image_size=16, patch=4, levels=3, channels=4, width=8, decoder_width=16)


@pytest.mark.parametrize("preset, size, tokens, channels", [("default", 64, [64, 16, 4, 1], 16), ("paper", 256, [256, 64, 16, 4], 32)])
def test_pyramid_shapes_at_both_scales(preset, size, tokens, channels):
    cfg = get_config(preset)
    model = Tokenizer(cfg)
    images = torch.rand(1, 3, size, size)
    latents = model.encode(images)
    assert [z.shape for z in latents] == [torch.Size([1, n, channels]) for n in tokens]
    assert model.decode(latents).shape == images.shape


@pytest.mark.parametrize("token_blocks", [1, 2])
def test_a_coarse_prefix_ignores_the_finer_levels(token_blocks):
    model = Tokenizer(TokenizerConfig(**{**SMALL.__dict__, "token_blocks": token_blocks})).eval()
    assert len(model.decoder.blocks) == SMALL.levels * token_blocks
    latents = model.encode(torch.rand(2, 3, 16, 16))
    changed = [torch.randn_like(latents[0]), *latents[1:]]
    with torch.no_grad():
        assert torch.equal(model.decode(latents, 2), model.decode(changed, 2))  # level 0 left out
        assert not torch.equal(model.decode(latents, 3), model.decode(changed, 3))
        per_sample = model.decode(latents, torch.tensor([1, 3]))
        assert torch.allclose(per_sample[0], model.decode(latents, 1)[0]) and torch.allclose(per_sample[1], model.decode(latents, 3)[1])


@pytest.mark.parametrize("pixel_blocks, pixel_width, widths", [(1, 16, [24, 16]), (2, 16, [24, 24, 16, 16]), (1, 20, [24, 20])])
def test_full_resolution_stages_follow_pixel_blocks_and_pixel_width(pixel_blocks, pixel_width, widths):
    cfg = TokenizerConfig(**{**SMALL.__dict__, "decoder_width": 48, "pixel_blocks": pixel_blocks, "pixel_width": pixel_width})
    model = Tokenizer(cfg)
    assert [m.body[2].in_channels for m in model.decoder.to_image if isinstance(m, ResBlock)] == widths
    assert model.decode(model.encode(torch.rand(1, 3, 16, 16))).shape == (1, 3, 16, 16)


@pytest.mark.parametrize("pyramid, per_level", [("learned", 3), ("cascaded", 1)])
def test_encoder_blocks_sit_at_each_level_the_encoder_computes(pyramid, per_level):
    plain = Tokenizer(TokenizerConfig(**{**SMALL.__dict__, "pyramid": pyramid}))
    assert not any(name.startswith("encoder.blocks.") for name in plain.state_dict())
    model = Tokenizer(TokenizerConfig(**{**SMALL.__dict__, "pyramid": pyramid, "encoder_blocks": 2}))
    assert len(model.encoder.blocks) == 2 * per_level
    latents = model.encode(torch.rand(2, 3, 16, 16))
    assert [z.shape for z in latents] == [z.shape for z in plain.encode(torch.rand(2, 3, 16, 16))]
    # every block takes part: a gradient reaches each one's last convolution
    sum(z.sum() for z in latents).backward()
    assert all(block.body[-1].weight.grad.abs().sum() > 0 for block in model.encoder.blocks)


def test_cascaded_levels_are_mean_pools_of_the_finest():
    model = Tokenizer(TokenizerConfig(**{**SMALL.__dict__, "pyramid": "cascaded"}))
    latents = model.encode(torch.rand(2, 3, 16, 16))
    finest = latents[0].transpose(1, 2).reshape(2, 4, 4, 4)
    assert torch.allclose(latents[1], F.avg_pool2d(finest, 2).flatten(2).transpose(1, 2), atol=1e-6)
    assert torch.allclose(latents[2][:, 0], latents[0].mean(1), atol=1e-6)


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="levels need a finest grid"):
        TokenizerConfig(image_size=16, patch=4, levels=4)
    with pytest.raises(ValueError, match="pyramid must be"):
        TokenizerConfig(pyramid="flat")
    with pytest.raises(ValueError, match="activation must be"):
        TokenizerConfig(activation="relu")
    with pytest.raises(ValueError, match="keep_all is a share"):
        TokenizerConfig(keep_all=1.5)
    with pytest.raises(ValueError, match="unknown tokenizer preset"):
        get_config("huge")


def test_a_checkpoint_keeps_the_activation_it_was_trained_with(tmp_path):
    silu = TokenizerConfig(**{**SMALL.__dict__, "activation": "silu"})
    checkpoint.save_model(tmp_path / "run", Tokenizer(silu), silu, {"step": 1})
    loaded = load_tokenizer(tmp_path / "run")
    kinds = {type(m).__name__ for m in loaded.modules()}
    assert "SiLU" in kinds and "GELU" not in kinds
    assert {type(m).__name__ for m in Tokenizer(SMALL).modules()} >= {"GELU"}


@pytest.mark.parametrize("class_head", [False, True])
def test_checkpoint_round_trip_is_exact(tmp_path, class_head):
    cfg = TokenizerConfig(**{**SMALL.__dict__, "class_head": class_head})
    model = Tokenizer(cfg).eval()
    checkpoint.save_model(tmp_path / "run", model, cfg, {"step": 3})
    loaded = load_tokenizer(tmp_path / "run")
    images = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(images), loaded(images))
        if class_head:  # the class map too, over the block ids the checkpoint keeps
            assert torch.equal(model(images, classes=True)[1], loaded(images, classes=True)[1])
            assert loaded.decoder.classes.block_ids.tolist() == [b.id for b in block_table().blocks]
    assert loaded.cfg == cfg and not list((tmp_path / "run").glob("*.pt*"))


def test_bad_checkpoints_say_what_is_wrong(tmp_path):
    with pytest.raises(UserError, match="no checkpoint here"):
        load_tokenizer(tmp_path / "missing")
    run = tmp_path / "run"
    checkpoint.save_model(run, Tokenizer(SMALL), SMALL)
    config = (run / "config.json").read_text()
    (run / "config.json").write_text(config.replace('"channels": 4', '"channels": 6'))
    with pytest.raises(UserError, match="does not fit this model: .* is \\(4, 16, 1, 1\\), the model needs \\(6, 16, 1, 1\\)|does not fit this model"):
        load_tokenizer(run)
    (run / "config.json").write_text(config)
    (run / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(UserError, match="not a readable safetensors file"):
        load_tokenizer(run)
    (run / "config.json").write_text("{")
    with pytest.raises(UserError, match="invalid JSON"):
        load_tokenizer(run)
