"""The diffusion transformer over mixed tokens: many frames, many pyramid levels, one sequence.

Every token carries its own conditioning: its noise level (clean context has its own, small one),
its pyramid level and its frame's action modulate each block through a per-token adaLN; its
spatial position within the level is added to its input; its frame index enters attention as a
rotary embedding, so only frame differences matter and cached keys stay valid as the window moves.

Context tokens attend only to context, targets to everything. The context's keys and values are
therefore the same at every denoising iteration of a generation step: `context_cache` computes
them once and `forward_targets` reuses them; `forward` is the same model on the whole sequence
with the equivalent mask (training, and the reference the cache is tested against).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import nn

from millivid_env.envs.action_codec import factor_rows

SIGMA_FLOOR = 1e-3  # noise levels below this embed as this (a clean token has sigma 0)
SPATIAL_FREQUENCIES = 8


@dataclass(frozen=True)
class DiTConfig:
    channels: int = 16  # latent channels per token
    levels: int = 4  # pyramid levels
    action_factors: tuple[int, ...] = (3,)  # digits of an action id (`envs.action_codec`); one more embedding stands for "no action" (an episode's first frame)
    width: int = 256  # transformer width
    depth: int = 6  # transformer blocks
    heads: int = 4  # attention heads
    mlp_ratio: int = 4  # hidden width of each block's MLP, in widths
    rope_base: float = 10_000.0  # base of the rotary frequencies over frame index


@dataclass
class Tokens:
    """A batch of token sequences. x: (B, S, C) latents; sigma: (B, S) noise levels; level, action:
    (B, S) long; pos: (B, S, 2) position within the level's grid in [0, 1]; frame: (B, S) frame index;
    target: (B, S) bool, generated rather than context; valid: (B, S) bool, False on padding."""
    x: torch.Tensor
    sigma: torch.Tensor
    level: torch.Tensor
    pos: torch.Tensor
    frame: torch.Tensor
    action: torch.Tensor
    target: torch.Tensor
    valid: torch.Tensor

    def to(self, device: torch.device | str) -> "Tokens":
        return Tokens(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def take(self, index: slice) -> "Tokens":
        """The tokens at `index` along the sequence."""
        return Tokens(**{f.name: getattr(self, f.name)[:, index] for f in fields(self)})

    def with_x(self, x: torch.Tensor, sigma: torch.Tensor) -> "Tokens":
        return replace(self, x=x, sigma=sigma)

    def then(self, other: "Tokens") -> "Tokens":
        """These tokens followed by `other`'s, along the sequence."""
        return Tokens(**{f.name: torch.cat([getattr(self, f.name), getattr(other, f.name)], 1) for f in fields(self)})

    def __len__(self) -> int:
        return self.x.shape[1]


def fourier(values: torch.Tensor, count: int, scale: float) -> torch.Tensor:
    """(..., D) -> (..., D * 2 * count) sines and cosines at octave frequencies."""
    freqs = scale * 2.0 ** torch.arange(count, device=values.device, dtype=values.dtype)
    angles = values.unsqueeze(-1) * freqs
    return torch.cat([angles.sin(), angles.cos()], -1).flatten(-2)


def rotary(frame: torch.Tensor, dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin (B, 1, S, dim / 2) of the rotation at each token's frame index."""
    inv = base ** (-torch.arange(0, dim, 2, device=frame.device, dtype=torch.float32) / dim)
    angles = frame.float().unsqueeze(-1) * inv
    return angles.cos().unsqueeze(1), angles.sin().unsqueeze(1)


def rotate(x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    cos, sin = rope
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).flatten(-2)


@dataclass
class Conditioning:
    """Per-token conditioning kept once per distinct (noise level, pyramid level, action): a
    sequence holds few of those (its context shares one noise level), so the adaLN projections,
    a third of a block's multiply-adds when run per token, run on the distinct rows alone."""
    table: torch.Tensor  # (U, W)
    index: torch.Tensor  # (B, S) each token's row of `table`

    def project(self, layer: nn.Linear) -> torch.Tensor:
        """`layer` applied to every token's conditioning, (B, S, out)."""
        return F.embedding(self.index, layer(self.table))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class Block(nn.Module):
    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        w = cfg.width
        self.heads = cfg.heads
        self.norm1 = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.norm2 = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(w, 3 * w)
        self.proj = nn.Linear(w, w)
        self.mlp = nn.Sequential(nn.Linear(w, cfg.mlp_ratio * w), nn.GELU(approximate="tanh"), nn.Linear(cfg.mlp_ratio * w, w))
        self.ada = nn.Linear(w, 6 * w)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def attention_inputs(self, h: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]
                         ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Queries and (keys, values), rotated, each (B, heads, S, W / heads)."""
        b, s, _ = h.shape
        q, k, v = self.qkv(modulate(self.norm1(h), shift, scale)).view(b, s, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        return rotate(q, rope), (rotate(k, rope), v)

    def keys_values(self, h: torch.Tensor, cond: Conditioning, rope: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """This block's keys and values alone (what a cache keeps of the last block)."""
        w = h.shape[-1]
        shift, scale = F.embedding(cond.index, F.linear(cond.table, self.ada.weight[:2 * w], self.ada.bias[:2 * w])).chunk(2, -1)
        return self.attention_inputs(h, shift, scale, rope)[1]

    def forward(self, h: torch.Tensor, cond: Conditioning, rope: tuple[torch.Tensor, torch.Tensor],
                mask: torch.Tensor | None = None, past: tuple[torch.Tensor, torch.Tensor] | None = None,
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """h (B, S, W) -> h and this call's (keys, values), rotated; `past` keys and values are
        attended to before this call's own."""
        shift1, scale1, gate1, shift2, scale2, gate2 = cond.project(self.ada).chunk(6, -1)
        q, own = self.attention_inputs(h, shift1, scale1, rope)
        k, v = own if past is None else (torch.cat([past[0], own[0]], 2), torch.cat([past[1], own[1]], 2))
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        h = h + gate1 * self.proj(attended.transpose(1, 2).reshape(h.shape))
        h = h + gate2 * self.mlp(modulate(self.norm2(h), shift2, scale2))
        return h, own


class DiT(nn.Module):
    def __init__(self, cfg: DiTConfig = DiTConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.embed = nn.Linear(cfg.channels, w)
        self.spatial = nn.Linear(2 * 2 * SPATIAL_FREQUENCIES, w)
        self.level_embed = nn.Embedding(cfg.levels, w)
        self.action_embed = nn.Embedding(sum(cfg.action_factors) + 1, w)
        self.noise_embed = nn.Sequential(nn.Linear(2 * 32, w), nn.SiLU(), nn.Linear(w, w))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.out_norm = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.out_ada = nn.Linear(w, 2 * w)
        self.out = nn.Linear(w, cfg.channels)
        for layer in (self.out_ada, self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def inputs(self, t: Tokens, x: torch.Tensor) -> tuple[torch.Tensor, Conditioning, tuple[torch.Tensor, torch.Tensor]]:
        """Hidden states, per-token conditioning and rotary angles of `t` with latents `x`."""
        keys = torch.stack([t.sigma, t.level.to(t.sigma.dtype), t.action.to(t.sigma.dtype)], -1).reshape(-1, 3)
        distinct, index = torch.unique(keys, dim=0, return_inverse=True)
        noise = torch.log(distinct[:, 0].clamp_min(SIGMA_FLOOR)) / 4
        table = self.noise_embed(fourier(noise.unsqueeze(-1), 32, 1.0)) + self.level_embed(distinct[:, 1].long()) \
            + self.embed_actions(distinct[:, 2].long())
        h = self.embed(x) + self.spatial(fourier(t.pos, SPATIAL_FREQUENCIES, math.pi)) + self.level_embed(t.level)
        cond = Conditioning(F.silu(table), index.view(t.sigma.shape))
        return h, cond, rotary(t.frame, self.cfg.width // self.cfg.heads, self.cfg.rope_base)

    def embed_actions(self, ids: torch.Tensor) -> torch.Tensor:
        """The sum of each action id's digit embeddings; the last embedding for "no action"."""
        factors = self.cfg.action_factors
        none = math.prod(factors)
        digits = self.action_embed(factor_rows(ids.clamp_max(none - 1), factors)).sum(-2)
        return torch.where((ids == none).unsqueeze(-1), self.action_embed.weight[-1], digits)

    def head(self, h: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        shift, scale = cond.project(self.out_ada).chunk(2, -1)
        return self.out(modulate(self.out_norm(h), shift, scale))

    def forward(self, t: Tokens, x: torch.Tensor) -> torch.Tensor:
        """The whole sequence at once: (B, S, C) outputs, context attending to context only."""
        keys = t.valid & ~t.target
        allowed = (t.target.unsqueeze(2) & t.valid.unsqueeze(1)) | keys.unsqueeze(1)
        allowed |= torch.eye(len(t), dtype=torch.bool, device=x.device)  # padding rows attend to themselves
        mask = allowed.unsqueeze(1)
        h, cond, rope = self.inputs(t, x)
        for block in self.blocks:
            h, _ = block(h, cond, rope, mask)
        return self.head(h, cond)

    def context_cache(self, context: Tokens, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Every block's keys and values of the context (no padding), computed once per step."""
        h, cond, rope = self.inputs(context, x)
        cache = []
        for block in self.blocks[:-1]:
            h, kv = block(h, cond, rope)
            cache.append(kv)
        return cache + [self.blocks[-1].keys_values(h, cond, rope)]  # the last block's outputs are never read

    def forward_targets(self, targets: Tokens, x: torch.Tensor, cache: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Outputs for the targets alone, attending to the cached context and to each other."""
        h, cond, rope = self.inputs(targets, x)
        for block, past in zip(self.blocks, cache):
            h, _ = block(h, cond, rope, past=past)
        return self.head(h, cond)

    def extend_and_forward(self, t: Tokens, x: torch.Tensor, new: int, cache: list[tuple[torch.Tensor, torch.Tensor]]
                           ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
        """One pass over `new` context tokens then targets: every block's keys and values of the new
        tokens, which attend to the cache and to each other (frame-causal: the cache does not attend
        back), and the targets' outputs, which attend to the cache and to all of `t`."""
        past = cache[0][0].shape[2]
        allowed = torch.ones(len(t), past + len(t), dtype=torch.bool, device=x.device)
        allowed[:new, past + new:] = False  # the new context never sees the targets
        h, cond, rope = self.inputs(t, x)
        own = []
        for block, kv in zip(self.blocks, cache):
            h, (k, v) = block(h, cond, rope, allowed, past=kv)
            own.append((k[:, :, :new], v[:, :, :new]))
        return own, self.head(h, cond)[:, new:]
