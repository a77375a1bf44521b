import numpy as np
import pytest

from millivid_env.world import World, WorldConfig, block_table
from millivid_env.world import blocks as b


def test_same_seed_same_world_and_different_seed_different_world(world):
    again = World.generate(0)
    assert np.array_equal(world.blocks, again.blocks)
    assert world.landmarks == again.landmarks
    assert not np.array_equal(world.blocks, World.generate(1).blocks)


def test_default_world_has_terrain_features(world):
    assert world.blocks.shape == (256, 64, 256)
    present = set(np.unique(world.blocks))
    for block in (b.GRASS, b.DIRT, b.STONE, b.SAND, b.WATER, b.LOG, b.LEAVES, b.BEDROCK):
        assert block in present, block_table().blocks[block].name
    assert world.height.max() - world.height.min() >= 12  # hills, not a plain


def test_caves_leave_air_below_the_surface(world):
    ys = np.arange(world.blocks.shape[1])[None, :, None]
    underground_air = (world.blocks == b.AIR) & (ys < world.height[:, None, :] - 2) & (ys > 0)
    assert underground_air.sum() > 500


def test_each_landmark_stands_in_its_own_colour(world):
    assert len(world.landmarks) >= 8
    assert len({m.block_id for m in world.landmarks}) == len(world.landmarks)
    assert {m.kind for m in world.landmarks} == {"tower", "hut", "arch"}
    for mark in world.landmarks:
        around = world.blocks[mark.x - 5:mark.x + 6, :, mark.z - 5:mark.z + 6]
        assert (around == mark.block_id).sum() >= 20, mark.name


@pytest.mark.parametrize("size", [(32, 64, 256), (256, 16, 256), (256, 300, 256)])
def test_bad_world_sizes_are_refused_with_the_value(size):
    with pytest.raises(ValueError, match="world size"):
        WorldConfig(size=size)
