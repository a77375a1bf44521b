import numpy as np
import pytest

from millivid_env.world import World, block_table
from millivid_env.world import blocks as b
from millivid_env.world.physics import ON_GROUND, TICKS_PER_SECOND, X, Y, Z, new_state, tick
from tests.conftest import flat_blocks


def run(world: World, state: np.ndarray, ticks: int, forward=0, strafe=0, jump=False, sneak=False, sprint=False, yaw=0.0):
    for _ in range(ticks):
        tick(world.blocks, block_table().solid, b.WATER, state, forward, strafe, jump, sneak, sprint, yaw)
    return state


def test_walking_covers_minecraft_speed_per_second(flat_world):
    state = run(flat_world, new_state(10.5, 8.0, 10.5), 5)  # settle on the ground
    start = state.copy()
    run(flat_world, state, TICKS_PER_SECOND, forward=1, yaw=0.0)  # yaw 0 faces +z
    assert state[Z] - start[Z] == pytest.approx(4.317, rel=0.02)
    assert state[X] == pytest.approx(start[X]) and state[Y] == pytest.approx(8.0)
    sprint = run(flat_world, state.copy(), TICKS_PER_SECOND, forward=1, sprint=True)
    sneak = run(flat_world, state.copy(), TICKS_PER_SECOND, forward=1, sneak=True)
    assert sprint[Z] - state[Z] > 5.0 and sneak[Z] - state[Z] < 1.5


def test_yaw_follows_minecraft_axes(flat_world):
    state = run(flat_world, new_state(30.5, 8.0, 30.5), 10, forward=1, yaw=90.0)  # yaw 90 faces -x
    assert state[X] < 30.0 and state[Z] == pytest.approx(30.5)


def test_gravity_drops_the_player_onto_the_floor(flat_world):
    state = run(flat_world, new_state(20.5, 20.0, 20.5), 40)
    assert state[Y] == pytest.approx(8.0) and state[ON_GROUND] == 1.0


def test_jump_clears_one_block_but_not_two():
    blocks = flat_blocks()
    blocks[:, 8, 14] = b.STONE  # a one-block step at z = 14
    blocks[:, 9:11, 24] = b.STONE  # a two-block wall standing on the step's level at z = 24
    blocks[:, 8, 14:] = b.STONE
    world = World.from_blocks(blocks)
    state = run(world, new_state(10.5, 8.0, 12.0), 5)
    run(world, state, 30, forward=1, jump=True)
    run(world, state, 20)  # land
    assert state[Y] == pytest.approx(9.0) and state[Z] > 14.0  # climbed the step
    run(world, state, 60, forward=1, jump=True)
    run(world, state, 20)
    assert state[Y] == pytest.approx(9.0) and state[Z] == pytest.approx(24.0 - 0.3, abs=1e-3)  # the wall held


def test_walls_stop_the_player_flush_with_their_face():
    blocks = flat_blocks()
    blocks[:, 8:12, 20] = b.STONE
    world = World.from_blocks(blocks)
    state = run(world, new_state(10.5, 8.0, 15.5), 60, forward=1)
    assert state[Z] == pytest.approx(20.0 - 0.3, abs=1e-3)
