"""From (frame, level) pairs to token sequences: where each level's tokens sit in a frame's
pyramid, their positions on the level's grid, and the action of each frame."""
from __future__ import annotations

import numpy as np
import torch

from millivid_env.models.dit import Tokens
from millivid_env.strategies import Step


class Pyramid:
    """One frame's tokens, all levels concatenated finest first: (sum(tokens), C)."""

    def __init__(self, tokens: tuple[int, ...]) -> None:
        self.tokens = tuple(int(n) for n in tokens)
        self.offsets = np.concatenate([[0], np.cumsum(self.tokens)])
        self.total = int(self.offsets[-1])
        self.level = np.concatenate([np.full(n, k) for k, n in enumerate(self.tokens)])
        pos = []
        for n in self.tokens:
            side = int(round(n ** 0.5))
            centres = (np.arange(side) + 0.5) / side  # a coarse token sits where the fine ones it covers sit
            pos.append(np.stack(np.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 2))
        self.pos = np.concatenate(pos).astype(np.float32)

    def rows(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frame and within-frame token index of every token of the (frame, level) `pairs`."""
        counts = np.asarray(self.tokens)[pairs[:, 1]]
        frames = np.repeat(pairs[:, 0], counts)
        starts = np.repeat(self.offsets[pairs[:, 1]], counts)
        within = np.arange(len(frames)) - np.repeat(np.cumsum(counts) - counts, counts)
        return frames, starts + within


def arrange(pyramid: Pyramid, latents: np.ndarray, frame_actions: np.ndarray, step: Step, origin: int = 0) -> dict[str, np.ndarray]:
    """The step's context then targets as token arrays. `latents` (F, pyramid.total, C) and
    `frame_actions` (F,) are indexed at origin + frame; frame indices are relative to the first target."""
    parts = []
    for pairs, is_target in ((step.context, False), (step.targets, True)):
        frames, index = pyramid.rows(pairs)
        parts.append({"x": latents[origin + frames, index].astype(np.float32), "level": pyramid.level[index],
                      "pos": pyramid.pos[index], "frame": frames, "action": frame_actions[origin + frames],
                      "target": np.full(len(frames), is_target)})
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    out["frame"] = out["frame"] - step.targets[:, 0].min()
    return out


def collate(items: list[dict[str, np.ndarray]]) -> Tokens:
    """Pad to the longest sequence and stack into a batch (sigma 0: clean)."""
    length = max(len(it["x"]) for it in items)

    def stack(key: str, dtype: torch.dtype) -> torch.Tensor:
        first = items[0][key]
        out = np.zeros((len(items), length, *first.shape[1:]), first.dtype)
        for row, it in zip(out, items):
            row[:len(it[key])] = it[key]
        return torch.from_numpy(out).to(dtype)

    valid = torch.zeros(len(items), length, dtype=torch.bool)
    for row, it in zip(valid, items):
        row[:len(it["x"])] = True
    x = stack("x", torch.float32)
    return Tokens(x=x, sigma=torch.zeros(x.shape[:2]), level=stack("level", torch.long), pos=stack("pos", torch.float32),
                  frame=stack("frame", torch.float32), action=stack("action", torch.long),
                  target=stack("target", torch.bool), valid=valid)
