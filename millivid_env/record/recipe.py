"""Dataset recipes: the TOML files in `datasets/` as a validated dataclass."""
from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from millivid_env.agents.explorers import EXPLORERS
from millivid_env.errors import UserError
from millivid_env.record.layout import BLOCK, COMPRESSION, compression_options
from millivid_env.record.recorder import DEFAULT_INFO_KEYS

TABLES = ("dataset", "env_kwargs", "explorer")


@dataclass(frozen=True)
class ExplorerSpec:
    name: str
    weight: float = 1.0
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    """What to collect. Episode e is seeded with `seed + e`, so any episode can be re-recorded alone."""

    env: str
    episodes: int
    frames: int  # steps per episode; each episode stores frames + 1 observations
    seed: int = 0
    workers: int = 1
    block: int = BLOCK
    compression: str = COMPRESSION
    info_keys: tuple[str, ...] = DEFAULT_INFO_KEYS
    name: str = "dataset"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    explorers: tuple[ExplorerSpec, ...] = (ExplorerSpec("random"),)

    def __post_init__(self) -> None:
        for key in ("episodes", "frames", "workers", "block"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"recipe {key} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise UserError(f"recipe seed must be a non-negative integer, got {self.seed!r}")
        compression_options(self.compression)
        for spec in self.explorers:
            if spec.name not in EXPLORERS:
                raise UserError(f"unknown explorer {spec.name!r} in recipe; choose one of {sorted(EXPLORERS)}")

    def explorer_for(self, episode: int) -> ExplorerSpec:
        """The explorer of episode `episode`, drawn by weight from its own seed."""
        weights = np.array([s.weight for s in self.explorers], float)
        pick = np.random.default_rng(self.seed + episode).choice(len(self.explorers), p=weights / weights.sum())
        return self.explorers[int(pick)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Recipe":
        data = dict(data)
        data["explorers"] = tuple(ExplorerSpec(**e) for e in data.get("explorers", ()))
        data["info_keys"] = tuple(data.get("info_keys", DEFAULT_INFO_KEYS))
        return cls(**data)

    def override(self, **values: Any) -> "Recipe":
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def load_recipe(path: str | Path) -> Recipe:
    """Parse and validate a recipe; every mistake names the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such recipe")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: invalid TOML ({e})") from None
    unknown = set(raw) - set(TABLES)
    if unknown:
        raise UserError(f"{path}: unknown table(s) {sorted(unknown)}; a recipe has {list(TABLES)}")
    dataset = dict(raw.get("dataset", {}))
    known = {f.name for f in fields(Recipe)} - {"env_kwargs", "explorers", "name"}
    bad = set(dataset) - known
    if bad:
        raise UserError(f"{path}: unknown key(s) {sorted(bad)} in [dataset]; known keys: {sorted(known)}")
    for required in ("env", "episodes", "frames"):
        if required not in dataset:
            raise UserError(f"{path}: [dataset] needs {required!r}")
    explorers = []
    for entry in raw.get("explorer", [{"name": "random"}]):
        entry = dict(entry)
        if "name" not in entry:
            raise UserError(f"{path}: every [[explorer]] needs a name")
        explorers.append(ExplorerSpec(entry.pop("name"), float(entry.pop("weight", 1.0)), entry))
    if "info_keys" in dataset:
        dataset["info_keys"] = tuple(dataset["info_keys"])
    try:
        return Recipe(name=path.stem, env_kwargs=raw.get("env_kwargs", {}), explorers=tuple(explorers), **dataset)
    except UserError as e:
        raise UserError(f"{path}: {e}") from None
