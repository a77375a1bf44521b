import numpy as np

from millivid_env.world import World
from millivid_env.world import blocks as b
from millivid_env.world.physics import EYE_HEIGHT
from tests.conftest import flat_blocks


def test_break_removes_the_targeted_block_and_place_puts_one_back(flat_world):
    eye = (20.5, 8.0 + EYE_HEIGHT, 20.5)
    assert flat_world.target(eye, 0.0, 90.0)[0] == (20, 7, 20)  # looking straight down
    assert flat_world.break_block(eye, 0.0, 90.0)
    assert flat_world.blocks[20, 7, 20] == b.AIR and flat_world.edits == 1
    # The hole lies below the feet, outside the player's box, so a block can go back into it.
    assert flat_world.place_block(eye, 0.0, 90.0, b.PLANKS, (20.5, 8.0, 20.5))
    assert flat_world.blocks[20, 7, 20] == b.PLANKS


def test_cannot_place_inside_the_player_or_break_bedrock():
    blocks = flat_blocks(ground=2)
    world = World.from_blocks(blocks)
    eye = (10.5, 2.0 + EYE_HEIGHT, 10.5)
    assert world.break_block(eye, 0.0, 90.0)  # stone at y = 1
    assert not world.break_block(eye, 0.0, 90.0)  # bedrock at y = 0
    assert not world.place_block((10.5, 1.0 + EYE_HEIGHT, 10.5), 0.0, 90.0, b.PLANKS, (10.5, 1.0, 10.5))


def test_edits_keep_the_skip_fields_exact(flat_world):
    from millivid_env.world.raycast import skip_fields

    eye = (20.5, 8.0 + EYE_HEIGHT, 20.5)
    flat_world.place_block(eye, 0.0, 45.0, b.PLANKS, (20.5, 8.0, 20.5))  # a block on the floor ahead
    cubes, sky = skip_fields(flat_world.blocks)
    assert np.array_equal(cubes, flat_world.cubes) and np.array_equal(sky, flat_world.sky)
    flat_world.break_block(eye, 0.0, 45.0)
    cubes, sky = skip_fields(flat_world.blocks)
    assert np.array_equal(cubes, flat_world.cubes) and np.array_equal(sky, flat_world.sky)
