import numpy as np

from millivid_env.world import block_table
from millivid_env.world import blocks as b


def test_named_constants_match_the_table():
    table = block_table()
    for name in ("air", "grass", "dirt", "stone", "sand", "snow", "water", "log", "leaves", "bedrock", "planks"):
        assert table.id(name) == getattr(b, name.upper())


def test_landmarks_have_unique_colours_far_from_every_other_block():
    table = block_table()
    assert len(table.landmarks) >= 8
    colours = {blk.id: np.array(blk.colour, float) for blk in table.blocks if blk.id != 0}
    for mark in table.landmarks:
        others = [np.linalg.norm(colours[mark.id] - c) for i, c in colours.items() if i != mark.id]
        assert min(others) > 40, mark.name


def test_air_and_water_do_not_collide():
    table = block_table()
    assert not table.solid[b.AIR] and not table.solid[b.WATER] and table.solid[b.STONE]
    assert not table.breakable[b.BEDROCK]
