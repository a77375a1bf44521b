import os

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import millivid_env  # noqa: E402,F401  (registers the envs)
from millivid_env.world import World  # noqa: E402
from millivid_env.world.blocks import BEDROCK, STONE  # noqa: E402


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path, monkeypatch):
    """Every test writes into its own temporary folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def world() -> World:
    return World.generate(0)


def flat_blocks(ground: int = 8, size=(64, 32, 64)) -> np.ndarray:
    """Stone up to y = ground - 1 and air above: feet stand at y = ground."""
    blocks = np.zeros(size, np.uint8)
    blocks[:, :ground] = STONE
    blocks[:, 0] = BEDROCK
    return blocks


@pytest.fixture
def flat_world() -> World:
    return World.from_blocks(flat_blocks())
