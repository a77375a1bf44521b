"""What every rollout strategy shares: the token pyramid it plans over, a step, and the plan loop.

A strategy is pure planning. Given which (frame, level) tokens are known, it says which known ones
are clean context and which unknown ones are generated next, within a fixed budget of tokens.
Levels count from the finest (0) to the coarsest; a (frame, level) pair stands for all of that
level's tokens of that frame.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from millivid_env.errors import UserError


@dataclass(frozen=True)
class StrategyConfig:
    tokens: tuple[int, ...] = (64, 16, 4, 1)  # tokens per frame at each level, finest first
    windows: tuple[int, ...] = (2, 8, 32, 128)  # frames per level window, finest first (MilliVid, causal)
    extra: int = 128  # tokens of context beyond the level windows
    new_frames: int = 3  # frames generated per step by FramePack

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.windows) or not self.tokens:
            raise UserError(f"one window per level: tokens {self.tokens} and windows {self.windows}")
        if min(self.tokens) < 1 or min(self.windows) < 1 or self.extra < 0 or self.new_frames < 1:
            raise UserError("tokens, windows and new_frames must be >= 1 and extra >= 0")

    @property
    def levels(self) -> int:
        return len(self.tokens)

    @property
    def budget(self) -> int:
        """Tokens in every step, context and targets together."""
        return sum(w * n for w, n in zip(self.windows, self.tokens)) + self.extra

    @property
    def frame_tokens(self) -> int:
        return sum(self.tokens)


# The paper's setting: 256 / 64 / 16 / 4 tokens per frame, 768 tokens per level window, + 768 extra.
PAPER = StrategyConfig(tokens=(256, 64, 16, 4), windows=(3, 12, 48, 192), extra=768)
# Our 64x64 pyramid at the paper's windows: 192 tokens per level window + 192 extra = 960 a step.
FULL = StrategyConfig(windows=(3, 12, 48, 192), extra=192)
# What two CPU cores train (the default): 128 tokens per level window + 128 extra = 640 a step.
CPU = StrategyConfig()
PRESETS = {"paper": PAPER, "full": FULL, "cpu": CPU}


@dataclass(frozen=True)
class Step:
    """One generation step: (frame, level) pairs as (n, 2) int arrays."""
    context: np.ndarray
    targets: np.ndarray

    def tokens(self, per_level: tuple[int, ...]) -> int:
        counts = np.asarray(per_level)
        return int(counts[self.context[:, 1]].sum() + counts[self.targets[:, 1]].sum())

    @property
    def span(self) -> tuple[int, int]:
        """First and last frame the step touches."""
        frames = np.concatenate([self.context[:, 0], self.targets[:, 0]])
        return int(frames.min()), int(frames.max())


def pairs(frames: np.ndarray | range, level: int) -> np.ndarray:
    frames = np.asarray(frames, np.int64)
    return np.stack([frames, np.full_like(frames, level)], 1) if len(frames) else np.zeros((0, 2), np.int64)


def known_prefix(known: np.ndarray) -> np.ndarray:
    """Per level, how many leading frames are known."""
    unknown = ~known
    return np.where(unknown.any(0), unknown.argmax(0), len(known))


@dataclass
class Strategy(ABC):
    cfg: StrategyConfig = field(default_factory=StrategyConfig)
    name = ""

    @abstractmethod
    def next_step(self, known: np.ndarray) -> Step | None:
        """The next step given `known`, a (frames, levels) bool array; None when nothing is unknown.
        The known tokens must be a prefix of frames at every level."""

    def plan(self, context: int, frames: int) -> list[Step]:
        """Every step of a rollout of `frames` new frames after `context` known ones."""
        if context < 1 or frames < 1:
            raise UserError(f"a rollout needs >= 1 context frame and >= 1 new frame, got {context} and {frames}")
        known = np.zeros((context + frames, self.cfg.levels), bool)
        known[:context] = True
        steps = []
        while (step := self.next_step(known)) is not None:
            known[step.targets[:, 0], step.targets[:, 1]] = True
            steps.append(step)
        return steps

    def frontier(self, known: np.ndarray) -> np.ndarray:
        """Known frames per level; the known tokens must be a prefix of frames at every level, no
        longer at a finer level than at a coarser one."""
        if known.ndim != 2 or known.shape[1] != self.cfg.levels:
            raise ValueError(f"known must be (frames, {self.cfg.levels}), got {known.shape}")
        ends = known_prefix(known)
        if known.sum() != ends.sum() or np.any(np.diff(ends) < 0):
            raise ValueError(f"known tokens are not prefixes that shorten from coarse to fine: {ends.tolist()}")
        return ends

    def back(self, end: int, tokens: int, levels: range) -> np.ndarray:
        """The frames before `end` whose tokens at `levels` fill `tokens`, as (frame, level) pairs."""
        count = min(tokens // sum(self.cfg.tokens[k] for k in levels), end)
        return np.concatenate([pairs(range(end - count, end), k) for k in levels])

    def first_open_frame(self, known: np.ndarray) -> int | None:
        """The first frame not known at every level; None when every frame is."""
        start = int(self.frontier(known)[0])
        return None if start == len(known) else start

    def whole_frames(self, known: np.ndarray, start: int, count: int) -> np.ndarray:
        """The unknown tokens of frames [start, start + count) at every level, as (frame, level) pairs."""
        frames = range(start, min(start + count, len(known)))
        every = np.concatenate([pairs(frames, k) for k in range(self.cfg.levels)])
        return every[~known[every[:, 0], every[:, 1]]]
