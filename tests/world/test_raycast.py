import numpy as np
import pytest

from millivid_env.world import Camera, World
from millivid_env.world import blocks as b
from millivid_env.world.physics import EYE_HEIGHT
from tests.conftest import flat_blocks


def test_wall_at_known_distance_gives_that_depth():
    blocks = flat_blocks()
    blocks[:, 8:20, 40] = b.PLANKS  # a wall whose near face is the plane z = 40
    world = World.from_blocks(blocks)
    camera = Camera(size=(33, 33))
    pose = np.array([32.5, 8.0, 30.0, 0.0, 0.0])  # facing +z, eye at y 9.62
    frames = camera.render_world(world, pose)
    assert frames.block_id[0, 16, 16] == b.PLANKS
    assert frames.depth[0, 16, 16] == pytest.approx(10.0, abs=1e-3)
    # Off-centre pixels see the same plane further away along their oblique rays.
    assert frames.depth[0, 16, 0] > frames.depth[0, 16, 16]


def test_sky_is_air_at_the_view_distance_and_ground_is_stone(flat_world):
    camera = Camera(size=(16, 16))
    frames = camera.render_world(flat_world, np.array([32.5, 8.0, 32.5, 0.0, 0.0]))
    assert frames.block_id[0, 0, 8] == b.AIR and frames.depth[0, 0, 8] == camera.view_distance
    assert frames.block_id[0, -1, 8] == b.STONE
    # Pixel (15, 8) looks along (u, v, 1) in camera space; it drops EYE_HEIGHT over |v| per unit.
    u, v = 1 / 16 * np.tan(np.radians(35)), -15 / 16 * np.tan(np.radians(35))
    assert frames.depth[0, -1, 8] == pytest.approx(EYE_HEIGHT * np.sqrt(u * u + v * v + 1) / -v, rel=1e-4)


def test_oblique_rays_of_a_turned_and_pitched_view_have_unit_length(flat_world):
    """Rays are normalised from a per-pixel table; under any yaw and pitch a pixel's depth to the
    flat ground is the eye height over the drop of its unit ray."""
    camera = Camera(size=(20, 30), fov=80.0)
    yaw, pitch = 37.0, 25.0
    frames = camera.render_world(flat_world, np.array([32.5, 8.0, 32.5, yaw, pitch]))
    t = np.tan(np.radians(40.0))
    ry, rp = np.radians(yaw), np.radians(pitch)
    forward = np.array([-np.sin(ry) * np.cos(rp), -np.sin(rp), np.cos(ry) * np.cos(rp)])
    right = np.array([-np.cos(ry), 0.0, -np.sin(ry)])
    up = np.array([-np.sin(ry) * np.sin(rp), np.cos(rp), np.cos(ry) * np.sin(rp)])
    for i, j in [(19, 0), (19, 29), (12, 3), (15, 22)]:
        u, v = (2 * (j + 0.5) / 30 - 1) * t * 1.5, (1 - 2 * (i + 0.5) / 20) * t
        ray = forward + u * right + v * up
        ray /= np.linalg.norm(ray)
        assert frames.block_id[0, i, j] == b.STONE
        assert frames.depth[0, i, j] == pytest.approx(EYE_HEIGHT / -ray[1], rel=1e-4)


@pytest.mark.parametrize("pitch", [-30.0, 0.0, 8.0, 40.0])
def test_empty_space_leaps_match_plain_voxel_stepping(world, pitch):
    """The skip fields are an optimisation only: every pixel equals plain DDA's."""
    camera = Camera(size=(48, 48))
    rng = np.random.default_rng(int(pitch) + 100)
    for _ in range(3):
        x, y, z = world.spawn_point(rng)
        pose = np.array([[x, y + rng.uniform(0, 6), z, rng.uniform(-180, 180), pitch]])
        fast = camera.render(world.blocks[None], world.cubes[None], world.sky[None], pose)
        plain = camera.render(world.blocks[None], np.zeros_like(world.cubes)[None], np.zeros_like(world.sky)[None], pose)
        assert np.array_equal(fast.block_id, plain.block_id)
        assert np.array_equal(fast.rgb, plain.rgb)


def test_batched_views_equal_single_views(world):
    camera = Camera(size=(24, 32))
    poses = np.array([[120.5, 40.0, 130.5, yaw, 10.0] for yaw in (0.0, 90.0, -135.0)])
    batch = camera.render(np.stack([world.blocks] * 3), np.stack([world.cubes] * 3), np.stack([world.sky] * 3), poses)
    for i, pose in enumerate(poses):
        assert np.array_equal(batch.rgb[i], camera.render_world(world, pose).rgb[0])
    assert batch.rgb.shape == (3, 24, 32, 3)


@pytest.mark.parametrize("size", [(4, 64), (64, 2000), (64.5, 64)])
def test_bad_resolutions_are_refused_with_the_value(size):
    with pytest.raises(ValueError, match="size must be"):
        Camera(size=size)


def test_parallel_renders_use_a_threading_layer_that_sleeps_even_with_torch_loaded_first():
    """OpenMP's spinning barriers made a frame 10-20x slower whenever other processes held the cores."""
    import subprocess
    import sys

    code = ("import torch, numpy as np, millivid_env, numba\n"
            "from millivid_env.world import Camera, World\n"
            "w = World.generate(0)\n"
            "Camera(size=(128, 128)).render_world(w, np.array([*w.spawn_point(np.random.default_rng(0)), 0.0, 0.0]))\n"
            "print(numba.threading_layer())")
    env = {k: v for k, v in __import__("os").environ.items() if k != "NUMBA_THREADING_LAYER"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split()[-1] == "workqueue"


def test_serial_and_parallel_kernels_render_the_same_pixels(flat_world):
    from millivid_env.world import raycast

    pose = np.array([32.5, 8.0, 32.5, 30.0, 10.0])
    small = raycast.PARALLEL_RAYS
    try:
        raycast.PARALLEL_RAYS = 10**9
        serial = Camera(size=(128, 128)).render_world(flat_world, pose)
        raycast.PARALLEL_RAYS = 1
        parallel = Camera(size=(128, 128)).render_world(flat_world, pose)
    finally:
        raycast.PARALLEL_RAYS = small
    for name in ("rgb", "depth", "block_id"):
        assert np.array_equal(getattr(serial, name), getattr(parallel, name))


def test_renders_from_several_python_threads_at_once_match_one_at_a_time(flat_world):
    from concurrent.futures import ThreadPoolExecutor

    camera = Camera(size=(128, 128))
    poses = [np.array([32.5, 8.0, 32.5, yaw, 0.0]) for yaw in range(0, 360, 45)]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda p: camera.render_world(flat_world, p).rgb, poses))
    assert all(np.array_equal(t, camera.render_world(flat_world, p).rgb) for t, p in zip(together, poses))
