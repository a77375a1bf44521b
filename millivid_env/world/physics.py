"""Player movement in Minecraft units, one game tick (1/20 s) at a time, as numba kernels.

The player is an axis-aligned box 0.6 x 1.8 x 0.6 blocks standing on (x, y, z); the eye is 1.62
above the feet. Constants are Minecraft's (blocks per tick unless noted).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

TICKS_PER_SECOND = 20
WALK_SPEED = 4.317 / TICKS_PER_SECOND
SPRINT_SPEED = 5.612 / TICKS_PER_SECOND
SNEAK_SPEED = 1.295 / TICKS_PER_SECOND
SWIM_FACTOR = 0.5
GRAVITY = 0.08
AIR_DRAG = 0.98
JUMP_VELOCITY = 0.42  # peaks at ~1.25 blocks: clears one block, never two
WATER_DRAG = 0.8
WATER_SINK = 0.02
SWIM_UP = 0.04
CLIMB_OUT = 0.3  # a swimmer pushing against a block while jumping is lifted onto the shore
HALF_WIDTH = 0.3
HEIGHT = 1.8
EYE_HEIGHT = 1.62
EPS = 1e-4
MAX_SUBSTEP = 0.45  # longest move checked at once, so a fast fall cannot pass through a floor

# State vector layout (float64).
X, Y, Z, VY, ON_GROUND, IN_WATER = range(6)
STATE_SIZE = 6


def new_state(x: float, y: float, z: float) -> np.ndarray:
    state = np.zeros(STATE_SIZE, np.float64)
    state[X], state[Y], state[Z] = x, y, z
    return state


@njit(cache=True)
def box_hits_solid(blocks, solid, x, y, z):
    sx, sy, sz = blocks.shape
    for bx in range(int(math.floor(x - HALF_WIDTH)), int(math.floor(x + HALF_WIDTH - EPS)) + 1):
        for by in range(int(math.floor(y)), int(math.floor(y + HEIGHT - EPS)) + 1):
            for bz in range(int(math.floor(z - HALF_WIDTH)), int(math.floor(z + HALF_WIDTH - EPS)) + 1):
                if bx < 0 or bx >= sx or bz < 0 or bz >= sz or by < 0:
                    return True  # the world's edge is a wall, its bottom a floor
                if by < sy and solid[blocks[bx, by, bz]]:
                    return True
    return False


@njit(cache=True)
def _move_axis(blocks, solid, state, axis, delta):
    """Move along one axis in short substeps; stop flush against the first solid block. Returns blocked."""
    n = int(math.ceil(abs(delta) / MAX_SUBSTEP))
    for _ in range(n):
        step = delta / n
        pos = [state[X], state[Y], state[Z]]
        pos[axis] += step
        if box_hits_solid(blocks, solid, pos[0], pos[1], pos[2]):
            # Snap to the face of the block we ran into.
            if axis == 1:
                state[Y] = math.floor(state[Y] + step) + 1.0 if step < 0 else math.floor(state[Y] + step + HEIGHT) - HEIGHT - EPS
            else:
                edge = pos[axis] + (HALF_WIDTH if step > 0 else -HALF_WIDTH)
                state[axis] = math.floor(edge) - HALF_WIDTH - EPS if step > 0 else math.floor(edge) + 1.0 + HALF_WIDTH + EPS
            if box_hits_solid(blocks, solid, state[X], state[Y], state[Z]):
                state[axis] = pos[axis] - step  # snapping failed (odd geometry): stay where we were
            return True
        state[axis] = pos[axis]
    return False


@njit(cache=True, nogil=True)
def tick(blocks, solid, water_id, state, forward, strafe, jump, sneak, sprint, yaw_deg):
    """Advance the player one tick. forward/strafe in {-1, 0, 1} (strafe +1 = right)."""
    feet = blocks[int(state[X]), min(max(int(math.floor(state[Y] + 0.4)), 0), blocks.shape[1] - 1), int(state[Z])]
    in_water = feet == water_id
    speed = SNEAK_SPEED if sneak else (SPRINT_SPEED if (sprint and forward > 0) else WALK_SPEED)
    if in_water:
        speed *= SWIM_FACTOR
    norm = math.sqrt(forward * forward + strafe * strafe)
    dx = dz = 0.0
    if norm > 0:
        yaw = math.radians(yaw_deg)
        f, s = forward / norm * speed, strafe / norm * speed
        dx = -math.sin(yaw) * f - math.cos(yaw) * s
        dz = math.cos(yaw) * f - math.sin(yaw) * s
    vy = state[VY]
    if in_water:
        vy = vy * WATER_DRAG - WATER_SINK + (SWIM_UP if jump else 0.0)
    elif jump and state[ON_GROUND] > 0:
        vy = JUMP_VELOCITY
    else:
        vy = (vy - GRAVITY) * AIR_DRAG
    landed = _move_axis(blocks, solid, state, 1, vy)
    state[ON_GROUND] = 1.0 if (landed and vy < 0) else 0.0
    if landed:
        vy = 0.0
    state[VY] = vy
    blocked_x = _move_axis(blocks, solid, state, 0, dx)
    blocked_z = _move_axis(blocks, solid, state, 2, dz)
    if in_water and jump and (blocked_x or blocked_z):
        state[VY] = CLIMB_OUT
    state[IN_WATER] = 1.0 if in_water else 0.0
