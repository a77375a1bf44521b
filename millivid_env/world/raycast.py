"""Voxel ray traversal (Amanatides-Woo DDA) and the first-person renderer, as numba kernels.

Coordinates follow Minecraft: x east, y up, z south; yaw 0 looks along +z, yaw 90 along -x;
positive pitch looks down. `blocks` is indexed [x, y, z].
"""
from __future__ import annotations

import functools
import math
import os

import numba
import numpy as np
from numba import njit, prange

from millivid_env.world.blocks import WATER

SKY_ZENITH = (0.40, 0.58, 0.88)
SKY_HORIZON = (0.70, 0.80, 0.93)
# Minecraft-like face shading: lit tops, darker sides, darkest undersides.
FACE_SHADE = (0.80, 1.00, 0.66)  # x faces, top (y faces), z faces
BOTTOM_SHADE = 0.50
TEXELS_PER_FACE = 8
TEXTURE_CONTRAST = 0.07
CHUNK_BITS = 2
CHUNK = 1 << CHUNK_BITS  # side of the empty-space skipping grid, in blocks
PARALLEL = 1e-12  # stands in for a zero direction component
MAX_LEAP = 8  # largest empty box, in chunks, that the distance field records
PARALLEL_RAYS = 128 * 128  # frames with fewer rays render on one thread (see render_views)

# numba's default OpenMP layer spins its threads at every barrier: when other processes hold the
# cores (a trainer, env workers, a model beside the true world) a frame takes 10-20x longer. The
# work-queue layer sleeps instead. It must be chosen before the first parallel launch, and it
# refuses concurrent launches, so `Camera.render` serialises calls from Python threads.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"


@njit(cache=True, inline="always")
def view_direction(yaw_deg: float, pitch_deg: float) -> tuple[float, float, float]:
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    return -math.sin(yaw) * math.cos(pitch), -math.sin(pitch), math.cos(yaw) * math.cos(pitch)


def _grow_distance(filled: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Chebyshev distance (over `axes`, capped at MAX_LEAP) from each empty cell to a filled one."""
    dist = np.zeros(filled.shape, np.uint8)
    for _ in range(MAX_LEAP):
        dist[~filled] += 1
        for axis in axes:
            grown = filled.copy()
            lo, hi = [slice(None)] * 3, [slice(None)] * 3
            lo[axis], hi[axis] = slice(1, None), slice(None, -1)
            grown[tuple(lo)] |= filled[tuple(hi)]
            grown[tuple(hi)] |= filled[tuple(lo)]
            filled = grown
    return dist


def skip_fields(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empty-space distance fields of (X, Y, Z) blocks, for leaping rays (uint8, capped at MAX_LEAP).

    cubes (X/CHUNK, Y/CHUNK, Z/CHUNK): 0 marks a chunk holding blocks; k > 0 means every chunk
    within Chebyshev distance k - 1 is empty, so a ray may leave that whole box at once.
    sky (X/CHUNK, Y, Z/CHUNK): per column of chunks and per voxel layer y, k > 0 means the
    columns within distance k - 1 hold nothing at layer y or above. A ray leaves such a box open
    to the sky only by its sides or, descending, through the floor of its voxel layer: rays that
    graze the ground cover many blocks per leap.
    """
    sx, sy, sz = blocks.shape
    c = CHUNK
    columns = blocks.reshape(sx // c, c, sy, sz // c, c).any(axis=(1, 4))  # (X/c, Y, Z/c)
    above = np.flip(np.logical_or.accumulate(np.flip(columns, 1), axis=1), 1)
    cubes = columns.reshape(sx // c, sy // c, c, sz // c).any(axis=2)
    return _grow_distance(cubes, (0, 1, 2)), _grow_distance(above, (0, 2))


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def trace_ray(blocks, cubes, sky, ox, oy, oz, dx, dy, dz, max_dist, skip_id):
    """March from (ox, oy, oz) along unit (dx, dy, dz) until a block other than air/`skip_id`.

    `cubes` and `sky` are skip_fields(blocks): empty space is crossed in leaps. Returns (block_id,
    distance, axis, sign_of_step, vx, vy, vz); block_id 0 means nothing was hit within
    `max_dist` or the ray left the world.
    """
    sx, sy, sz = blocks.shape
    # An axis the ray does not move along gets a slope so small that no plane of it is crossed
    # within any view distance; every formula below then holds without special cases.
    dx = dx if dx != 0 else PARALLEL
    dy = dy if dy != 0 else PARALLEL
    dz = dz if dz != 0 else PARALLEL
    step_x = 1 if dx > 0 else -1
    step_y = 1 if dy > 0 else -1
    step_z = 1 if dz > 0 else -1
    ix, iy, iz = 1.0 / dx, 1.0 / dy, 1.0 / dz  # signed inverse directions
    # t between successive planes of one axis, and offsets turning a voxel index into the t of
    # its exit plane (used to restart stepping after a leap).
    gx, gy, gz = abs(ix), abs(iy), abs(iz)
    ex, ey, ez = (1 if dx > 0 else 0) - ox, (1 if dy > 0 else 0) - oy, (1 if dz > 0 else 0) - oz
    vx, vy, vz = int(math.floor(ox)), int(math.floor(oy)), int(math.floor(oz))
    nx, ny, nz = (vx + ex) * ix, (vy + ey) * iy, (vz + ez) * iz
    rising = dy >= 0
    t = 0.0
    axis = 1
    while t <= max_dist:
        if vx < 0 or vx >= sx or vz < 0 or vz >= sz or vy < 0 or vy >= sy:
            return 0, max_dist, axis, 0, vx, vy, vz
        cx, cy, cz = vx >> CHUNK_BITS, vy >> CHUNK_BITS, vz >> CHUNK_BITS
        # Prefer the box open to the sky; otherwise the empty cube of chunks around this one.
        leap = np.int64(sky[cx, vy, cz])
        if leap > 0:
            y_plane = sy if rising else vy
        else:
            leap = np.int64(cubes[cx, cy, cz])
            y_plane = (cy + leap) * CHUNK if rising else (cy + 1 - leap) * CHUNK
        if leap > 0:
            tx = ((cx + (leap if dx > 0 else 1 - leap)) * CHUNK - ox) * ix
            tz = ((cz + (leap if dz > 0 else 1 - leap)) * CHUNK - oz) * iz
            ty = (y_plane - oy) * iy
            if tx < ty and tx < tz:
                t, axis = tx, 0
                vx = int(math.floor(ox + dx * t + 0.5 * step_x))
                vy, vz = int(math.floor(oy + dy * t)), int(math.floor(oz + dz * t))
            elif ty < tz:
                t, axis = ty, 1
                vy = int(math.floor(oy + dy * t + 0.5 * step_y))
                vx, vz = int(math.floor(ox + dx * t)), int(math.floor(oz + dz * t))
            else:
                t, axis = tz, 2
                vz = int(math.floor(oz + dz * t + 0.5 * step_z))
                vx, vy = int(math.floor(ox + dx * t)), int(math.floor(oy + dy * t))
            nx, ny, nz = (vx + ex) * ix, (vy + ey) * iy, (vz + ez) * iz
            continue
        # This chunk holds blocks: step voxel by voxel until a hit or until the ray leaves it
        # (no field look-ups and no world-bounds tests while inside).
        while t <= max_dist:
            block = blocks[vx, vy, vz]
            if block != 0 and block != skip_id:
                sign = step_x if axis == 0 else (step_y if axis == 1 else step_z)
                return block, t, axis, sign, vx, vy, vz
            if nx < ny and nx < nz:
                t, axis = nx, 0
                nx += gx
                vx += step_x
                if vx >> CHUNK_BITS != cx:
                    break
            elif ny < nz:
                t, axis = ny, 1
                ny += gy
                vy += step_y
                if vy >> CHUNK_BITS != cy:
                    break
            else:
                t, axis = nz, 2
                nz += gz
                vz += step_z
                if vz >> CHUNK_BITS != cz:
                    break
    return 0, max_dist, axis, 0, vx, vy, vz


@njit(cache=True, inline="always")
def _texel_noise(vx, vy, vz, axis, u, v):
    # A fixed hash of (voxel, face, texel): gives blocks a stable Minecraft-like grain.
    h = (vx * 73856093) ^ (vy * 19349663) ^ (vz * 83492791) ^ (axis * 2654435761)
    h ^= (int(u * TEXELS_PER_FACE) * 374761393) ^ (int(v * TEXELS_PER_FACE) * 668265263)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h >> 8) & 0xFF) / 127.5 - 1.0


@njit(cache=True, inline="always")
def _shade_pixel(palette, block, dist, axis, sign, vx, vy, vz, ox, oy, oz, dx, dy, dz, fog_start, max_dist):
    """Colour (r, g, b) in [0, 1] of a ray's hit: face shade, texel grain and distance fog."""
    hr, hg, hb = SKY_HORIZON
    if block == 0:
        zr, zg, zb = SKY_ZENITH
        up = max(dy, 0.0)
        return hr + (zr - hr) * up, hg + (zg - hg) * up, hb + (zb - hb) * up
    hx, hy, hz = ox + dx * dist, oy + dy * dist, oz + dz * dist
    if axis == 0:
        u, v, shade = hz - math.floor(hz), hy - math.floor(hy), FACE_SHADE[0]
    elif axis == 1:
        u, v, shade = hx - math.floor(hx), hz - math.floor(hz), BOTTOM_SHADE if sign > 0 else FACE_SHADE[1]
    else:
        u, v, shade = hx - math.floor(hx), hy - math.floor(hy), FACE_SHADE[2]
    shade *= 1.0 + TEXTURE_CONTRAST * _texel_noise(vx, vy, vz, axis, u, v)
    if dist <= fog_start:
        return palette[block, 0] * shade, palette[block, 1] * shade, palette[block, 2] * shade
    fog = min((dist - fog_start) / (max_dist - fog_start), 1.0)
    lit = shade * (1.0 - fog)
    return palette[block, 0] * lit + hr * fog, palette[block, 1] * lit + hg * fog, palette[block, 2] * lit + hb * fog


@njit(cache=True, inline="always")
def _to_byte(value):
    return np.uint8(min(value, 1.0) * 255.0 + 0.5)


@njit(cache=True, inline="always")
def row_stride(height):
    stride = int(height * 0.618) | 1
    while math.gcd(stride, height) != 1:
        stride += 2
    return stride


@functools.lru_cache(maxsize=16)
def screen_rays(height: int, width: int, tan_half_fov: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pixel's ray in camera space, (u, v, 1) with u right and v up: u (W,), v (H,) and
    1 / |(u, v, 1)| (H, W). A view's rays are forward + u * right + v * up on an orthonormal
    basis, so one table normalises every view (a square root per pixel was 5% of a frame)."""
    v = (1.0 - 2.0 * (np.arange(height) + 0.5) / height) * tan_half_fov
    u = (2.0 * (np.arange(width) + 0.5) / width - 1.0) * tan_half_fov * (width / height)
    inv_length = 1.0 / np.sqrt(1.0 + u[None, :] ** 2 + v[:, None] ** 2)
    for table in (u, v, inv_length):
        table.flags.writeable = False  # shared by every caller of the cache
    return u, v, inv_length


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _render_row(row, blocks, cubes, sky, cameras, palette, rgb, depth, block_id, screen_u, screen_v, inv_length, max_dist, fog_start):
    """Row `row` of the stacked views (view row // H), written into rgb, depth and block_id."""
    n_views, height, width = depth.shape
    # Scattering rows over the image with a stride coprime to the height gives every thread of a
    # parallel launch (a contiguous range of `row`) its share of cheap sky and costly ground.
    b, i = row // height, (row % height) * row_stride(height) % height
    ox, oy, oz, yaw, pitch = cameras[b, 0], cameras[b, 1], cameras[b, 2], cameras[b, 3], cameras[b, 4]
    fx, fy, fz = view_direction(yaw, pitch)
    ry, rp = math.radians(yaw), math.radians(pitch)
    rx, rz = -math.cos(ry), -math.sin(ry)
    ux, uy, uz = -math.sin(ry) * math.sin(rp), math.cos(rp), math.cos(ry) * math.sin(rp)
    world, world_cubes, world_sky = blocks[b], cubes[b], sky[b]
    # From inside water, see through it (tinted) instead of hitting the voxel we stand in.
    inside = world[int(math.floor(ox)), int(math.floor(oy)), int(math.floor(oz))]
    skip = WATER if inside == WATER else -1
    v = screen_v[i]
    for j in range(width):
        u, inv_norm = screen_u[j], inv_length[i, j]
        dx = (fx + u * rx + v * ux) * inv_norm
        dy = (fy + v * uy) * inv_norm
        dz = (fz + u * rz + v * uz) * inv_norm
        block, dist, axis, sign, vx, vy, vz = trace_ray(world, world_cubes, world_sky, ox, oy, oz, dx, dy, dz, max_dist, skip)
        r, g, bl = _shade_pixel(palette, block, dist, axis, sign, vx, vy, vz, ox, oy, oz, dx, dy, dz, fog_start, max_dist)
        if skip == WATER:
            r, g = r * 0.45, g * 0.6
        rgb[b, i, j, 0], rgb[b, i, j, 1], rgb[b, i, j, 2] = _to_byte(r), _to_byte(g), _to_byte(bl)
        depth[b, i, j] = dist
        block_id[b, i, j] = block


@njit(cache=True, fastmath=True, error_model="numpy", nogil=True)
def _render_rows_serial(blocks, cubes, sky, cameras, palette, rgb, depth, block_id, screen_u, screen_v, inv_length, max_dist, fog_start):
    for row in range(depth.shape[0] * depth.shape[1]):
        _render_row(row, blocks, cubes, sky, cameras, palette, rgb, depth, block_id, screen_u, screen_v, inv_length, max_dist, fog_start)


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy", nogil=True)
def _render_rows_parallel(blocks, cubes, sky, cameras, palette, rgb, depth, block_id, screen_u, screen_v, inv_length, max_dist, fog_start):
    for row in prange(depth.shape[0] * depth.shape[1]):
        _render_row(row, blocks, cubes, sky, cameras, palette, rgb, depth, block_id, screen_u, screen_v, inv_length, max_dist, fog_start)


def render_views(blocks, cubes, sky, cameras, palette, rgb, depth, block_id, screen_u, screen_v, inv_length, max_dist, fog_start) -> None:
    """Render B views at once; blocks (B, X, Y, Z) uint8 with their skip_fields stacked,
    cameras (B, 5) as (x, eye_y, z, yaw, pitch), the pixel rays from screen_rays().

    Writes rgb (B, H, W, 3) uint8, depth (B, H, W) float32 in blocks along the ray (sky = max_dist),
    block_id (B, H, W) uint8 (sky = 0). Fewer than PARALLEL_RAYS rays run on the calling thread:
    waking other threads costs more than a small frame, and far more when the cores are busy.
    """
    kernel = _render_rows_parallel if depth.size >= PARALLEL_RAYS and numba.get_num_threads() > 1 else _render_rows_serial
    kernel(blocks, cubes, sky, cameras, palette, rgb, depth, block_id, screen_u, screen_v, inv_length, max_dist, fog_start)
