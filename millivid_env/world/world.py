"""A voxel world: the block array, its landmarks, and the edits a player can make to it."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from millivid_env.world.blocks import AIR, DIRT, GRASS, SAND, SNOW, STONE, WATER, block_table
from millivid_env.world.physics import box_hits_solid
from millivid_env.world.raycast import CHUNK, skip_fields, trace_ray, view_direction
from millivid_env.world.worldgen import Landmark, WorldConfig, generate

REACH = 4.5  # blocks, as in survival Minecraft
SPAWN_GROUND = (GRASS, DIRT, STONE, SAND, SNOW)


@dataclass
class World:
    seed: int
    config: WorldConfig
    blocks: np.ndarray  # (X, Y, Z) uint8
    height: np.ndarray  # (X, Z) int32 surface height at generation time
    landmarks: tuple[Landmark, ...]
    # skip_fields(blocks), kept in step with every edit: the ray marcher's empty-space maps.
    cubes: np.ndarray = field(default=None)
    sky: np.ndarray = field(default=None)
    edits: int = 0

    def __post_init__(self) -> None:
        if self.cubes is None:
            self.cubes, self.sky = skip_fields(self.blocks)

    @classmethod
    def generate(cls, seed: int, config: WorldConfig = WorldConfig()) -> "World":
        blocks, height, landmarks = generate(seed, config)
        return cls(seed, config, blocks, height, landmarks)

    @classmethod
    def from_blocks(cls, blocks: np.ndarray, seed: int = 0) -> "World":
        """A hand-built world (tests, scenes): blocks (X, Y, Z) uint8, no landmarks."""
        blocks = np.ascontiguousarray(blocks, np.uint8)
        top = np.where(blocks.any(axis=1), blocks.shape[1] - 1 - np.argmax(blocks[:, ::-1] != 0, axis=1), 0)
        return cls(seed, WorldConfig(size=blocks.shape, landmark_count=0), blocks, top.astype(np.int32), ())

    def copy(self) -> "World":
        return World(self.seed, self.config, self.blocks.copy(), self.height, self.landmarks,
                     self.cubes.copy(), self.sky.copy(), self.edits)

    def standing_y(self, x: float, z: float) -> float:
        """Feet height on the highest solid block of column (x, z), above water if any."""
        column = self.blocks[int(x), :, int(z)]
        solid = block_table().solid[column] | (column == WATER)
        return float(np.nonzero(solid)[0].max() + 1)

    def spawn_point(self, rng: np.random.Generator) -> tuple[float, float, float]:
        """A spot on open ground (not water, not a tree top) near the middle of the world."""
        sx, _, sz = self.config.size
        for _ in range(256):
            x, z = rng.uniform(sx * 0.35, sx * 0.65), rng.uniform(sz * 0.35, sz * 0.65)
            y = self.standing_y(x, z)
            ground = self.blocks[int(x), int(y) - 1, int(z)]
            if ground in SPAWN_GROUND and not box_hits_solid(self.blocks, block_table().solid, x, y, z):
                return x, y, z
        return sx / 2 + 0.5, self.standing_y(sx / 2, sz / 2), sz / 2 + 0.5

    def target(self, eye: tuple[float, float, float], yaw: float, pitch: float, reach: float = REACH):
        """The block under the crosshair: (voxel, face normal) or None when nothing is in reach."""
        d = view_direction(yaw, pitch)
        block, _, axis, sign, vx, vy, vz = trace_ray(self.blocks, self.cubes, self.sky, *eye, *d, reach, WATER)
        if block == AIR:
            return None
        normal = [0, 0, 0]
        normal[axis] = -sign
        return (vx, vy, vz), tuple(normal)

    def break_block(self, eye, yaw: float, pitch: float) -> bool:
        hit = self.target(eye, yaw, pitch)
        if hit is None or not block_table().breakable[self.blocks[hit[0]]]:
            return False
        self._set(hit[0], AIR)
        return True

    def place_block(self, eye, yaw: float, pitch: float, block: int, feet: tuple[float, float, float]) -> bool:
        """Place `block` against the targeted face, unless it would overlap the player."""
        hit = self.target(eye, yaw, pitch)
        if hit is None:
            return False
        cell = tuple(int(c + n) for c, n in zip(hit[0], hit[1]))
        if not all(0 <= c < s for c, s in zip(cell, self.blocks.shape)) or self.blocks[cell] not in (AIR, WATER):
            return False
        previous = self.blocks[cell]
        self.blocks[cell] = block
        if box_hits_solid(self.blocks, block_table().solid, *feet):
            self.blocks[cell] = previous
            return False
        self._set(cell, block)
        return True

    def _column_top(self, cx: int, cz: int) -> int:
        """Highest layer holding a block in chunk column (cx, cz), as the sky field records it."""
        return int(np.nonzero(self.sky[cx, :, cz] == 0)[0].max(initial=-1))

    def _set(self, cell: tuple[int, int, int], block: int) -> None:
        self.blocks[cell] = block
        # The fields change only when a column of chunks gains or loses its top at some layer, or
        # a chunk turns empty or filled; recomputing them then is cheap enough (edits are rare).
        cx, cy, cz = (c // CHUNK for c in cell)
        column = self.blocks[cx * CHUNK:(cx + 1) * CHUNK, :, cz * CHUNK:(cz + 1) * CHUNK]
        column_top = int(np.nonzero(column.any(axis=(0, 2)))[0].max(initial=-1))
        chunk_filled = bool(column[:, cy * CHUNK:(cy + 1) * CHUNK].any())
        if chunk_filled != (self.cubes[cx, cy, cz] == 0) or column_top != self._column_top(cx, cz):
            self.cubes[...], self.sky[...] = skip_fields(self.blocks)
        self.edits += 1
