"""Procedural terrain from a seed: hills, beaches, snow caps, lakes, caves, trees and landmarks."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from millivid_env.errors import UserError
from millivid_env.world.blocks import (
    AIR, BEDROCK, DIRT, GRASS, LEAVES, LOG, SAND, SNOW, STONE, WATER, block_table,
)


@dataclass(frozen=True)
class WorldConfig:
    size: tuple[int, int, int] = (256, 64, 256)  # x, y (up), z
    sea_level: int = 22
    base_height: int = 26
    hill_amplitude: float = 16.0
    snow_line: int = 42
    tree_density: float = 1 / 180  # trees per surface column
    cave_worms: int = 36
    landmark_count: int = 10
    landmark_margin: int = 24  # keeps structures away from the world's edge

    def __post_init__(self) -> None:
        x, y, z = self.size
        if min(x, z) < 64 or y < 32:
            raise UserError(f"world size {self.size} too small: need x, z >= 64 and y >= 32")
        if y > 255 or max(x, z) > 4096:
            raise UserError(f"world size {self.size} too large: need y <= 255 and x, z <= 4096")
        if self.landmark_count > len(block_table().landmarks):
            raise UserError(f"landmark_count {self.landmark_count} exceeds the {len(block_table().landmarks)} landmark blocks")


@dataclass(frozen=True)
class Landmark:
    name: str
    block_id: int
    kind: str  # tower, hut or arch
    x: int
    z: int
    base_y: int


def fractal_noise(rng: np.random.Generator, shape: tuple[int, int], scales: tuple[int, ...]) -> np.ndarray:
    """Smooth noise in [-1, 1]: random grids at several scales, bicubically upsampled and summed."""
    total = np.zeros(shape, np.float32)
    weight_sum = 0.0
    for scale in scales:
        grid = rng.uniform(-1, 1, (shape[0] // scale + 2, shape[1] // scale + 2)).astype(np.float32)
        up = cv2.resize(grid, ((shape[1] // scale + 2) * scale, (shape[0] // scale + 2) * scale), interpolation=cv2.INTER_CUBIC)
        weight = scale / scales[0]
        total += weight * up[: shape[0], : shape[1]]
        weight_sum += weight
    return np.clip(total / weight_sum * 1.6, -1, 1)


def _heightmap(rng: np.random.Generator, cfg: WorldConfig) -> np.ndarray:
    sx, sy, sz = cfg.size
    noise = fractal_noise(rng, (sx, sz), (64, 32, 16, 8))
    height = cfg.base_height + cfg.hill_amplitude * noise
    return np.clip(height, 4, sy - 20).astype(np.int32)


def _fill_columns(blocks: np.ndarray, height: np.ndarray, cfg: WorldConfig) -> None:
    sy = cfg.size[1]
    ys = np.arange(sy)[None, :, None]
    h = height[:, None, :]
    slope = np.maximum(np.abs(np.diff(height, axis=0, prepend=height[:1])), np.abs(np.diff(height, axis=1, prepend=height[:, :1])))
    top = np.full(height.shape, GRASS, np.uint8)
    top[height <= cfg.sea_level + 1] = SAND
    top[height >= cfg.snow_line] = SNOW
    top[(slope >= 3) & (height < cfg.snow_line)] = STONE
    blocks[ys < h - 3] = STONE
    dirt = (ys >= h - 3) & (ys < h)
    blocks[dirt] = DIRT
    sandy = np.broadcast_to((height <= cfg.sea_level + 1)[:, None, :], blocks.shape)
    blocks[dirt & sandy] = SAND
    surface = ys == h
    blocks[surface] = np.broadcast_to(top[:, None, :], blocks.shape)[surface]
    blocks[(ys > h) & (ys <= cfg.sea_level)] = WATER
    blocks[:, 0, :] = BEDROCK


def _carve_caves(blocks: np.ndarray, height: np.ndarray, rng: np.random.Generator, cfg: WorldConfig) -> None:
    sx, sy, sz = cfg.size
    for _ in range(cfg.cave_worms):
        p = np.array([rng.uniform(8, sx - 8), rng.uniform(6, cfg.base_height), rng.uniform(8, sz - 8)])
        heading = rng.uniform(0, 2 * np.pi)
        for _ in range(int(rng.integers(40, 90))):
            radius = rng.uniform(1.4, 2.6)
            lo = np.maximum(np.floor(p - radius).astype(int), [1, 2, 1])
            hi = np.minimum(np.ceil(p + radius).astype(int) + 1, [sx - 1, sy - 1, sz - 1])
            gx, gy, gz = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
            ball = (gx - p[0]) ** 2 + (gy - p[1]) ** 2 + (gz - p[2]) ** 2 <= radius**2
            region = blocks[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
            # Never carve into water or lakebeds: the world is static, water would hang in the air.
            dry = height[lo[0]:hi[0], None, lo[2]:hi[2]] > cfg.sea_level + 1
            region[ball & dry & (region != WATER) & (region != BEDROCK)] = AIR
            heading += rng.normal(0, 0.35)
            p += [np.cos(heading) * 1.2, rng.normal(0, 0.5), np.sin(heading) * 1.2]
            p[:] = np.clip(p, [4, 4, 4], [sx - 5, sy - 8, sz - 5])


def _plant_trees(blocks: np.ndarray, height: np.ndarray, rng: np.random.Generator, cfg: WorldConfig) -> None:
    sx, sy, sz = cfg.size
    count = int(sx * sz * cfg.tree_density)
    for x, z in zip(rng.integers(3, sx - 3, count), rng.integers(3, sz - 3, count)):
        y = int(height[x, z])
        if blocks[x, y, z] != GRASS or y + 9 >= sy:
            continue
        trunk = int(rng.integers(4, 7))
        top = y + trunk
        canopy = blocks[x - 2:x + 3, top - 1:top + 1, z - 2:z + 3]
        canopy[canopy == AIR] = LEAVES
        crown = blocks[x - 1:x + 2, top + 1:top + 3, z - 1:z + 2]
        crown[crown == AIR] = LEAVES
        blocks[x, y + 1:top + 1, z] = LOG


def _build_tower(blocks, x, y, z, block, rng):
    tall = int(rng.integers(12, 18))
    blocks[x - 1:x + 2, y:y + tall, z - 1:z + 2] = block
    blocks[x - 2:x + 3, y + tall:y + tall + 2, z - 2:z + 3] = block


def _build_hut(blocks, x, y, z, block, rng):
    blocks[x - 3:x + 4, y:y + 5, z - 3:z + 4] = block
    blocks[x - 2:x + 3, y:y + 4, z - 2:z + 3] = AIR
    blocks[x, y:y + 2, z - 3] = AIR  # a door facing north
    for step in range(3):
        blocks[x - 3 + step:x + 4 - step, y + 5 + step, z - 3 + step:z + 4 - step] = block


def _build_arch(blocks, x, y, z, block, rng):
    span = 3
    blocks[x - span - 1:x - span + 1, y:y + 9, z - 1:z + 1] = block
    blocks[x + span:x + span + 2, y:y + 9, z - 1:z + 1] = block
    blocks[x - span - 1:x + span + 2, y + 9:y + 11, z - 1:z + 1] = block


BUILDERS = {"tower": _build_tower, "hut": _build_hut, "arch": _build_arch}


def _place_landmarks(blocks, height, rng, cfg: WorldConfig) -> tuple[Landmark, ...]:
    """Spread landmarks on a jittered grid so that each part of the world has one in sight."""
    sx, sy, sz = cfg.size
    kinds = tuple(BUILDERS)
    side = int(np.ceil(np.sqrt(cfg.landmark_count)))
    cells = rng.permutation(side * side)[: cfg.landmark_count]
    span_x, span_z = (sx - 2 * cfg.landmark_margin) / side, (sz - 2 * cfg.landmark_margin) / side
    landmarks = []
    for i, (cell, block) in enumerate(zip(cells, block_table().landmarks)):
        cx, cz = divmod(int(cell), side)
        x = int(cfg.landmark_margin + span_x * (cx + rng.uniform(0.25, 0.75)))
        z = int(cfg.landmark_margin + span_z * (cz + rng.uniform(0.25, 0.75)))
        footprint = height[x - 4:x + 5, z - 4:z + 5]
        base = int(max(footprint.max(), cfg.sea_level)) + 1
        base = min(base, sy - 22)
        # A stone plinth levels the ground (or stands in the lake) under the structure.
        blocks[x - 4:x + 5, 1:base, z - 4:z + 5] = np.where(blocks[x - 4:x + 5, 1:base, z - 4:z + 5] == AIR, STONE, blocks[x - 4:x + 5, 1:base, z - 4:z + 5])
        blocks[x - 4:x + 5, base - 1, z - 4:z + 5] = STONE
        blocks[x - 4:x + 5, base:, z - 4:z + 5] = AIR
        kind = kinds[i % len(kinds)]
        BUILDERS[kind](blocks, x, base, z, block.id, rng)
        height[x - 4:x + 5, z - 4:z + 5] = base - 1
        landmarks.append(Landmark(block.name, block.id, kind, x, z, base))
    return tuple(landmarks)


def generate(seed: int, cfg: WorldConfig = WorldConfig()) -> tuple[np.ndarray, np.ndarray, tuple[Landmark, ...]]:
    """Return (blocks (X, Y, Z) uint8, surface height (X, Z) int32, landmarks) for `seed`."""
    rng = np.random.default_rng(seed)
    blocks = np.zeros(cfg.size, np.uint8)
    height = _heightmap(rng, cfg)
    _fill_columns(blocks, height, cfg)
    _carve_caves(blocks, height, rng, cfg)
    landmarks = _place_landmarks(blocks, height, rng, cfg)
    _plant_trees(blocks, height, rng, cfg)
    return blocks, height, landmarks
