"""Action ids a world model conditions on, for Discrete and MineRL-style Dict action spaces.

An id packs one digit per factor (mixed radix, first factor least significant): a Discrete(n)
space is one factor of n; a Dict action is its net forward/back and left/right moves (3 each),
the five other buttons (2 each) and the camera's pitch and yaw, each quantised to one of
`CAMERA_BINS` mu-law bins within +-`CAMERA_MAX` degrees as VPT does, since a tick's camera turns
are mostly small. The model embeds an id as the sum of its digits' embeddings, so a Dict model
learns 38 vectors, not one per combination. Id `n` (one past the last) means "no action", as
before an episode's first frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from gymnasium import spaces

from millivid_env.envs.actions import BUTTONS, action_space, validate
from millivid_env.errors import UserError

CAMERA_BINS = 11
CAMERA_MAX = 10.0  # degrees per tick; larger turns saturate
CAMERA_MU = 10.0
MOVES = (("forward", "back"), ("right", "left"))  # net move +1 -> digit 1, -1 -> digit 2
TOGGLES = ("jump", "sneak", "sprint", "attack", "use")
DICT_FACTORS = (3, 3) + (2,) * len(TOGGLES) + (CAMERA_BINS, CAMERA_BINS)
KINDS = ("discrete", "minerl")


def camera_bins(degrees: np.ndarray) -> np.ndarray:
    """Mu-law bins of camera turns (degrees), 0 .. CAMERA_BINS - 1, the middle one for no turn."""
    x = np.clip(np.asarray(degrees, np.float64) / CAMERA_MAX, -1.0, 1.0)
    squashed = np.sign(x) * np.log1p(CAMERA_MU * np.abs(x)) / np.log1p(CAMERA_MU)
    return np.rint((squashed + 1) / 2 * (CAMERA_BINS - 1)).astype(np.int64)


@dataclass(frozen=True)
class ActionCodec:
    kind: str = "discrete"  # "discrete": Discrete(n) ids as they are; "minerl": MineRL-style Dict actions
    n: int = 3  # ids the model knows (for "minerl", the product of DICT_FACTORS)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UserError(f"unknown action codec {self.kind!r}; choose one of {KINDS}")
        if self.n != int(np.prod(self.factors)) or self.n < 1:
            raise UserError(f"a {self.kind} action codec of {self.n} ids does not match its factors {self.factors}")

    @classmethod
    def for_space(cls, space: str | spaces.Space) -> "ActionCodec":
        """The codec of an env's action space (or its `str`, as dataset metadata records it)."""
        text = str(space)
        if text.startswith("Discrete("):
            return cls("discrete", int(text[len("Discrete("):-1]))
        if text == str(action_space()):
            return cls("minerl", int(np.prod(DICT_FACTORS)))
        raise UserError(f"the simulator conditions on Discrete or MineRL-style Dict actions, not {text or 'an unknown space'}")

    @property
    def factors(self) -> tuple[int, ...]:
        return DICT_FACTORS if self.kind == "minerl" else (self.n,)

    @property
    def none(self) -> int:
        """The id that stands for no action."""
        return self.n

    def space(self) -> spaces.Space:
        return action_space() if self.kind == "minerl" else spaces.Discrete(self.n)

    def encode_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Ids (T,) of T recorded actions: {"action": (T,)} for Discrete, one array per Dict key
        (buttons (T,), "camera" (T, 2) as [pitch, yaw]) for MineRL-style; missing buttons count as 0."""
        key = "action" if self.kind == "discrete" else "camera"
        if key not in columns:
            raise UserError(f"actions {sorted(columns)} are not of this simulator's action space {self.space()} "
                            f"(no {key!r})")
        if self.kind == "discrete":
            ids = np.asarray(columns["action"]).astype(np.int64).reshape(-1)
            if len(ids) and (ids.min() < 0 or ids.max() >= self.n):
                raise UserError(f"actions must be ints in [0, {self.n}), got values in [{ids.min()}, {ids.max()}]")
            return ids
        length = len(columns["camera"])
        button = {b: np.asarray(columns.get(b, np.zeros(length)), np.int64) for b in BUTTONS}
        camera = np.asarray(columns["camera"], np.float64).reshape(length, 2)
        digits = [(button[plus] - button[minus]) % 3 for plus, minus in MOVES]
        digits += [button[t] for t in TOGGLES] + [camera_bins(camera[:, 0]), camera_bins(camera[:, 1])]
        return np.ravel_multi_index(digits, self.factors, order="F").astype(np.int64)

    def encode(self, action: Any) -> int:
        """The id of one action of `space()`; a clear error for anything else."""
        if self.kind == "discrete":
            if not self.space().contains(action):
                raise UserError(f"action must be an int in [0, {self.n}), got {action!r}")
            return int(action)
        validate(action)
        columns = {k: np.asarray([v]) for k, v in action.items() if k != "camera"}
        columns["camera"] = np.asarray(action.get("camera", (0.0, 0.0)), np.float64).reshape(1, 2)
        return int(self.encode_columns(columns)[0])

    def encode_many(self, actions: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Ids (T,) of a sequence of actions of `space()` (Dict actions, or Discrete ints)."""
        if self.kind == "discrete":
            return self.encode_columns({"action": np.asarray(actions, np.int64).reshape(-1)})
        return np.asarray([self.encode(a) for a in actions], np.int64)


def factor_rows(ids: torch.Tensor, factors: Sequence[int]) -> torch.Tensor:
    """(..., K) rows of each id's digits in a table holding every factor's rows one after another
    (ids must be below the product of `factors`)."""
    sizes = torch.tensor(list(factors), device=ids.device)
    strides = torch.cumprod(torch.cat([sizes.new_ones(1), sizes[:-1]]), 0)
    offsets = torch.cumsum(torch.cat([sizes.new_zeros(1), sizes[:-1]]), 0)
    return (ids.unsqueeze(-1) // strides) % sizes + offsets
