"""First-person camera: turns poses into RGB, depth and block-id frames with the raycast kernel."""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from millivid_env.errors import UserError
from millivid_env.world.blocks import block_table
from millivid_env.world.physics import EYE_HEIGHT
from millivid_env.world.raycast import render_views, screen_rays
from millivid_env.world.world import World

MIN_SIDE, MAX_SIDE = 8, 1024
_RENDER_LOCK = threading.Lock()  # the kernel's threading layer takes one launch at a time


@dataclass(frozen=True)
class Frames:
    rgb: np.ndarray  # (B, H, W, 3) uint8
    depth: np.ndarray  # (B, H, W) float32, blocks along the ray; sky = view_distance
    block_id: np.ndarray  # (B, H, W) uint8; sky = 0


@dataclass(frozen=True)
class Camera:
    size: tuple[int, int] = (64, 64)  # (H, W)
    fov: float = 70.0  # vertical field of view, degrees (Minecraft's default)
    view_distance: float = 96.0
    fog_start: float = 0.6  # fraction of view_distance where fog begins

    def __post_init__(self) -> None:
        if len(self.size) != 2 or not all(isinstance(s, (int, np.integer)) and MIN_SIDE <= s <= MAX_SIDE for s in self.size):
            raise UserError(f"size must be (H, W) with integers in [{MIN_SIDE}, {MAX_SIDE}], got {self.size!r}")
        if not 10.0 <= self.fov <= 150.0:
            raise UserError(f"fov must be within [10, 150] degrees, got {self.fov!r}")

    def render(self, blocks: np.ndarray, cubes: np.ndarray, sky: np.ndarray, poses: np.ndarray) -> Frames:
        """B worlds (blocks (B, X, Y, Z) and their World.cubes / World.sky fields, stacked) seen
        from feet poses (B, 5) as (x, y, z, yaw, pitch) -> Frames."""
        n = len(poses)
        cameras = np.array(poses, np.float64).reshape(n, 5).copy()
        cameras[:, 1] += EYE_HEIGHT
        h, w = self.size
        frames = Frames(np.empty((n, h, w, 3), np.uint8), np.empty((n, h, w), np.float32), np.empty((n, h, w), np.uint8))
        with _RENDER_LOCK:
            render_views(
                blocks, cubes, sky, cameras, block_table().palette, frames.rgb, frames.depth, frames.block_id,
                *screen_rays(h, w, math.tan(math.radians(self.fov) / 2)), self.view_distance, self.view_distance * self.fog_start,
            )
        return frames

    def render_world(self, world: World, pose: np.ndarray) -> Frames:
        """One view of `world` from feet pose (5,) -> Frames with a batch of one."""
        return self.render(world.blocks[None], world.cubes[None], world.sky[None], np.asarray(pose)[None])
