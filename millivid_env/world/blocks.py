"""The block table (`blocks.toml`) as frozen dataclasses and lookup arrays for the numba kernels."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

NUM_BLOCK_IDS = 256  # block ids are uint8 everywhere (world arrays, obs/block_id)


@dataclass(frozen=True)
class Block:
    id: int
    name: str
    colour: tuple[int, int, int]
    solid: bool
    breakable: bool
    landmark: bool = False


@dataclass(frozen=True)
class BlockTable:
    blocks: tuple[Block, ...]
    palette: np.ndarray  # (256, 3) float32, base colour in [0, 1]
    solid: np.ndarray  # (256,) bool
    breakable: np.ndarray  # (256,) bool

    def id(self, name: str) -> int:
        for block in self.blocks:
            if block.name == name:
                return block.id
        raise KeyError(f"unknown block name {name!r}")

    @property
    def landmarks(self) -> tuple[Block, ...]:
        return tuple(b for b in self.blocks if b.landmark)


@cache
def block_table() -> BlockTable:
    text = resources.files(__package__).joinpath("blocks.toml").read_text()
    blocks = tuple(Block(**{**row, "colour": tuple(row["colour"])}) for row in tomllib.loads(text)["block"])
    palette = np.zeros((NUM_BLOCK_IDS, 3), np.float32)
    solid = np.zeros(NUM_BLOCK_IDS, bool)
    breakable = np.zeros(NUM_BLOCK_IDS, bool)
    for b in blocks:
        palette[b.id] = np.array(b.colour, np.float32) / 255.0
        solid[b.id] = b.solid
        breakable[b.id] = b.breakable
    return BlockTable(blocks, palette, solid, breakable)


AIR, GRASS, DIRT, STONE, SAND, SNOW, WATER, LOG, LEAVES, BEDROCK, PLANKS = range(11)
