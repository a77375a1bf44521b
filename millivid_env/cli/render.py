"""Render a contact sheet of views of a world: around the spawn point and of each landmark."""
from __future__ import annotations

import argparse
import math

import numpy as np

from millivid_env.cli import options
from millivid_env.envs.voxel_world import check_seed
from millivid_env.viz import contact_sheet, label, write_png
from millivid_env.world import Camera, World

LANDMARK_VIEW_DISTANCE = 18.0
VIEW_ANGLES = 8


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=options.non_negative_int, default=0, help="world seed")
    p.add_argument("--out", default="world.png", help="PNG to write")
    p.add_argument("--size", type=options.size, default=(128, 128), help="view size, e.g. 128 or 128x192")
    p.add_argument("--cols", type=int, default=4)
    p.set_defaults(run=run)


def landmark_pose(world: World, index: int, angle: float) -> np.ndarray:
    """A feet pose on the ground LANDMARK_VIEW_DISTANCE from landmark `index` at compass `angle`, facing it."""
    mark = world.landmarks[index]
    sx, _, sz = world.config.size
    x = float(np.clip(mark.x + 0.5 + LANDMARK_VIEW_DISTANCE * math.cos(angle), 1, sx - 2))
    z = float(np.clip(mark.z + 0.5 + LANDMARK_VIEW_DISTANCE * math.sin(angle), 1, sz - 2))
    yaw = math.degrees(math.atan2(-(mark.x + 0.5 - x), mark.z + 0.5 - z))
    return np.array([x, world.standing_y(x, z), z, yaw, -12.0])


def best_landmark_view(world: World, index: int, camera: Camera) -> np.ndarray:
    """The view, of VIEW_ANGLES around the landmark, in which it covers the most pixels."""
    views = [camera.render_world(world, landmark_pose(world, index, 2 * math.pi * k / VIEW_ANGLES)) for k in range(VIEW_ANGLES)]
    block = world.landmarks[index].block_id
    return max(views, key=lambda f: int((f.block_id == block).sum())).rgb[0]


def world_tour(world: World, camera: Camera) -> list[np.ndarray]:
    x, y, z = world.spawn_point(np.random.default_rng(world.seed))
    views = [label(camera.render_world(world, np.array([x, y, z, yaw, 0.0])).rgb[0], f"spawn yaw {yaw:+.0f}")
             for yaw in range(-180, 180, 45)]
    for i, mark in enumerate(world.landmarks):
        views.append(label(best_landmark_view(world, i, camera), f"{mark.kind} {mark.name.removeprefix('landmark_')}"))
    return views


def run(args: argparse.Namespace) -> int:
    check_seed(args.seed)
    camera = Camera(size=args.size)
    sheet = contact_sheet(world_tour(World.generate(args.seed), camera), cols=args.cols)
    print(write_png(args.out, sheet))
    return 0
