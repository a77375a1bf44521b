"""The MilliVid hierarchical tokenizer: a frame becomes a pyramid of latent tokens and back.

Level 0 is the finest latent grid (image / patch per side); each coarser level has 4x fewer
tokens, down to level L-1. The encoder is convolutional: at 64x64 it encodes >1,000 frames/s on
two CPU cores, where the paper's ViT over an image pyramid manages ~120 (BENCHMARKS.md). Coarser
levels are computed from the finer feature maps (`pyramid="learned"`) or, as the paper's
cascaded ablation, by mean-pooling the finest latents (`pyramid="cascaded"`).

The decoder works top-down from the coarsest level; a level left out (coarse prefix) is replaced
by a learned "missing" vector, so any prefix levels L-1..k decodes to a sensible frame; with
`class_head` it also reads out block-class logits per pixel (models/class_head.py). Latents
travel as a list over levels of (batch, tokens_k, channels) tensors, tokens in raster order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from millivid_env.errors import UserError
from millivid_env.models.class_head import ClassHead

PYRAMIDS = ("learned", "cascaded")
# SiLU trains 1.1-1.3x faster on the CPU (its backward costs half of GELU's) but its 2-hour run
# ended below the GELU default (BENCHMARKS.md).
ACTIVATIONS = {"gelu": nn.GELU, "silu": nn.SiLU}


@dataclass(frozen=True)
class TokenizerConfig:
    image_size: int = 64  # frame side in pixels (square frames)
    patch: int = 8  # finest latent grid = image_size / patch per side
    levels: int = 4  # pyramid levels; each coarser one has 4x fewer tokens
    channels: int = 16  # latent channels per token
    width: int = 24  # encoder base width (doubles per downsampling, capped at 4x)
    decoder_width: int = 96  # decoder width at the token grids
    token_blocks: int = 2  # residual blocks at each token level of the decoder (8x8 and coarser: cheap)
    encoder_blocks: int = 0  # residual blocks at each token level of the encoder
    pixel_blocks: int = 1  # residual blocks after each decoder upsampling to full resolution (sharp edges)
    pixel_width: int = 16  # narrowest width of those upsampling stages (each halves the width down to it)
    pyramid: str = "learned"  # coarse levels from coarser features, or "cascaded": mean-pooled finest latents
    activation: str = "gelu"  # "gelu" or "silu"
    ssim_weight: float = 0.2  # weight of the 1 - SSIM term beside the L2
    class_balance: float = 0.5  # pixel weight n^-power per block class of n pixels (0: plain L2; needs obs/block_id)
    image_levels: int = 3  # image-pyramid scales in the L2 loss, weighted 4^scale on summed errors
    palette_weight: float = 0.0  # weight of the block-class colour loss (models/palette_loss.py; needs obs/block_id)
    # Share of each training batch that keeps every level; the rest draws its prefix uniformly, so
    # without it the finest level trains on 1/L of a batch (0.4 is +1.8 dB held out over 0).
    keep_all: float = 0.4
    class_head: bool = False  # the decoder also gives block-class logits per pixel (models/class_head.py)
    class_weight: float = 0.0  # weight of the class head's cross-entropy against the true block ids
    # Decoder resolutions the class head reads, counted from full resolution (at most 1 + log2(patch):
    # the token grid and every upsampling stage); 0 reads them all.
    class_scales: int = 0

    def __post_init__(self) -> None:
        at_least = {1: ("image_size", "patch", "levels", "channels", "width", "decoder_width", "token_blocks",
                        "pixel_blocks", "pixel_width", "image_levels"), 0: ("encoder_blocks",)}
        for least, names in at_least.items():
            for name in names:
                if not isinstance(getattr(self, name), int) or getattr(self, name) < least:
                    raise UserError(f"{name} must be an integer >= {least}, got {getattr(self, name)!r}")
        for name in ("ssim_weight", "class_balance", "palette_weight", "class_weight"):
            if not getattr(self, name) >= 0:  # also refuses nan
                raise UserError(f"{name} must be >= 0, got {getattr(self, name)}")
        grid = self.image_size // self.patch
        if self.image_size % self.patch or grid & (grid - 1) or self.patch & (self.patch - 1):
            raise UserError(f"image_size / patch must be a power of two and patch a power of two, got {self.image_size} / {self.patch}")
        if 2 ** (self.levels - 1) > grid:
            raise UserError(f"{self.levels} levels need a finest grid of at least {2 ** (self.levels - 1)}, got {grid}")
        if self.pyramid not in PYRAMIDS:
            raise UserError(f"pyramid must be one of {PYRAMIDS}, got {self.pyramid!r}")
        if self.activation not in ACTIVATIONS:
            raise UserError(f"activation must be one of {tuple(ACTIVATIONS)}, got {self.activation!r}")
        if self.class_weight and not self.class_head:
            raise UserError("class_weight needs class_head (there are no class logits to train)")
        if not 0 <= self.class_scales <= self.pixel_stages + 1:
            raise UserError(f"class_scales must be 1..{self.pixel_stages + 1} (the token grid and {self.pixel_stages} "
                            f"upsampling stages) or 0 for all, got {self.class_scales}")
        if not 0 <= self.keep_all <= 1:
            raise UserError(f"keep_all is a share of the batch in [0, 1], got {self.keep_all}")

    def act(self) -> nn.Module:
        return ACTIVATIONS[self.activation]()

    @property
    def head_scales(self) -> int:
        """Decoder resolutions the class head reads (class_scales, with 0 meaning all)."""
        return self.class_scales or self.pixel_stages + 1

    @property
    def pixel_stages(self) -> int:
        """Upsampling stages from the finest token grid to full resolution."""
        return int(math.log2(self.patch))

    @property
    def grids(self) -> tuple[int, ...]:
        """Side of the token grid of each level, finest first."""
        return tuple(self.image_size // self.patch >> k for k in range(self.levels))

    @property
    def tokens(self) -> tuple[int, ...]:
        return tuple(g * g for g in self.grids)


DEFAULT = TokenizerConfig()
PRESETS = {
    "tiny": TokenizerConfig(width=8, decoder_width=16),
    "default": DEFAULT,
    # the paper's scale, one config away from our default: same architecture choices
    "paper": replace(DEFAULT, image_size=256, patch=16, channels=32, width=48, decoder_width=256),
}


def get_config(preset: str = "default", **overrides) -> TokenizerConfig:
    if preset not in PRESETS:
        raise UserError(f"unknown tokenizer preset {preset!r}; choose one of {sorted(PRESETS)}")
    return replace(PRESETS[preset], **overrides)


class ResBlock(nn.Module):
    def __init__(self, width: int, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.GroupNorm(8 if width % 8 == 0 else 1, width), cfg.act(),
                                  nn.Conv2d(width, width, 3, padding=1), cfg.act(), nn.Conv2d(width, width, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def run_level_blocks(blocks: nn.ModuleList, per_level: int, level: int, h: torch.Tensor) -> torch.Tensor:
    """Apply the residual blocks of token level `level` from a flat, level-major list."""
    for block in blocks[level * per_level:(level + 1) * per_level]:
        h = block(h)
    return h


def to_tokens(grid: torch.Tensor) -> torch.Tensor:
    """(B, C, g, g) -> (B, g*g, C)."""
    return grid.flatten(2).transpose(1, 2)


def to_grid(tokens: torch.Tensor) -> torch.Tensor:
    """(B, N, C) -> (B, C, sqrt(N), sqrt(N))."""
    side = math.isqrt(tokens.shape[1])
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], side, side)


class Encoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        stages, width, c_in = [], cfg.width, 3
        for i in range(int(math.log2(cfg.patch))):
            width = cfg.width * min(2**i, 4)
            stages += [nn.Conv2d(c_in, width, 4, 2, 1), cfg.act()]
            c_in = width
        self.stem = nn.Sequential(*stages, nn.Conv2d(width, width, 3, padding=1), cfg.act())
        self.heads = nn.ModuleList([nn.Conv2d(width, cfg.channels, 1)])
        computed = cfg.levels if cfg.pyramid == "learned" else 1  # levels with their own features
        # Level-major, like the decoder's.
        self.blocks = nn.ModuleList(ResBlock(width, cfg) for _ in range(computed * cfg.encoder_blocks))
        if cfg.pyramid == "learned":
            self.down = nn.ModuleList([nn.Sequential(nn.Conv2d(width, width, 4, 2, 1), cfg.act()) for _ in range(cfg.levels - 1)])
            self.heads.extend(nn.Conv2d(width, cfg.channels, 1) for _ in range(cfg.levels - 1))

    def refine(self, h: torch.Tensor, level: int) -> torch.Tensor:
        return run_level_blocks(self.blocks, self.cfg.encoder_blocks, level, h)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """images (B, 3, H, W) in [0, 1] -> latents, finest first: [(B, N_k, C)]."""
        h = self.refine(self.stem((images * 2 - 1).contiguous(memory_format=torch.channels_last)), 0)
        finest = self.heads[0](h)
        if self.cfg.pyramid == "cascaded":
            return [to_tokens(F.avg_pool2d(finest, 2**k) if k else finest) for k in range(self.cfg.levels)]
        levels = [finest]
        for level, (down, head) in enumerate(zip(self.down, self.heads[1:]), 1):
            h = self.refine(down(h), level)
            levels.append(head(h))
        return [to_tokens(z) for z in levels]


class Decoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.decoder_width
        self.embed = nn.ModuleList(nn.Conv2d(cfg.channels, d, 1) for _ in range(cfg.levels))
        self.missing = nn.Parameter(torch.zeros(cfg.levels, d))
        self.up = nn.ModuleList(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(d, d, 3, padding=1), cfg.act())
                                for _ in range(cfg.levels - 1))
        # Flat, level-major: with one block per level the parameter names are those of the
        # checkpoints trained before token_blocks existed.
        self.blocks = nn.ModuleList(ResBlock(d, cfg) for _ in range(cfg.levels * cfg.token_blocks))
        stages, width, widths = [], d, [d]
        for _ in range(cfg.pixel_stages):
            out = max(width // 2, cfg.pixel_width)
            stages += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, out, 3, padding=1), cfg.act(),
                       *(ResBlock(out, cfg) for _ in range(cfg.pixel_blocks))]
            width = out
            widths.append(width)
        self.to_image = nn.Sequential(*stages, nn.Conv2d(width, 3, 3, padding=1))
        self.classes = ClassHead(widths[-cfg.head_scales:]) if cfg.class_head else None

    def level_input(self, latents: list[torch.Tensor], level: int, keep: torch.Tensor, batch: int) -> torch.Tensor:
        """Level `level`'s embedding where the sample keeps it, the learned 'missing' vector elsewhere."""
        side = self.cfg.grids[level]
        embedded = self.embed[level](to_grid(latents[level]))
        missing = self.missing[level].view(1, -1, 1, 1).expand(batch, -1, side, side)
        kept = (keep > self.cfg.levels - 1 - level).view(batch, 1, 1, 1)
        return torch.where(kept, embedded, missing)

    def refine(self, h: torch.Tensor, level: int) -> torch.Tensor:
        return run_level_blocks(self.blocks, self.cfg.token_blocks, level, h)

    def forward(self, latents: list[torch.Tensor], keep: torch.Tensor | int | None = None,
                classes: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Reconstruct (B, 3, H, W) from the `keep` coarsest levels (an int or one per sample;
        default all); finer levels are ignored. `classes`: also the class head's (B, K, H, W) logits."""
        batch, levels = latents[0].shape[0], self.cfg.levels
        keep = torch.full((batch,), levels if keep is None else keep, device=latents[0].device) if not torch.is_tensor(keep) else keep
        h = self.refine(self.level_input(latents, levels - 1, keep, batch), levels - 1)
        for level in range(levels - 2, -1, -1):
            h = self.up[level](h) + self.level_input(latents, level, keep, batch)
            h = self.refine(h, level)
        if not classes:
            return self.to_image(h)
        if self.classes is None:
            raise UserError("class logits need a tokenizer with class_head")
        features = self.stage_features(h)
        return self.to_image[-1](features[-1]), self.classes(features[-self.cfg.head_scales:])

    def stage_features(self, h: torch.Tensor) -> list[torch.Tensor]:
        """The finest token grid's features and each upsampling stage's output, coarsest first."""
        features, per_stage = [h], (len(self.to_image) - 1) // self.cfg.pixel_stages
        for i, module in enumerate(self.to_image[:-1]):
            h = module(h)
            if (i + 1) % per_stage == 0:
                features.append(h)
        return features


class Tokenizer(nn.Module):
    def __init__(self, cfg: TokenizerConfig = TokenizerConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        # Channels-last convolutions: 1.36x the training steps/s on the reference CPU (oneDNN's
        # blocked kernels skip a layout conversion per conv; torch.compile and bf16 were slower).
        # Token grids are channels-last already (tokens x channels), so the decoder starts there.
        self.to(memory_format=torch.channels_last)

    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder(images)

    def decode(self, latents: list[torch.Tensor], keep: torch.Tensor | int | None = None) -> torch.Tensor:
        return self.decoder(latents, keep)

    def forward(self, images: torch.Tensor, keep: torch.Tensor | int | None = None,
                classes: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        return self.decoder(self.encode(images), keep, classes)


def tokenizer_config(folder) -> TokenizerConfig:
    """The config in a run folder's config.json, with a one-line error when it is not a tokenizer's."""
    from millivid_env.models import checkpoint

    try:
        return TokenizerConfig(**checkpoint.read_config(folder)["config"])
    except (TypeError, KeyError, ValueError) as e:
        raise UserError(f"{folder}: config.json is not a tokenizer config ({e})") from None


def load_tokenizer(folder) -> Tokenizer:
    """A trained tokenizer from a run folder (model.safetensors + config.json), in eval mode."""
    from millivid_env.models import checkpoint

    model = Tokenizer(tokenizer_config(folder))
    checkpoint.load_weights(folder, model)
    return model.eval()
