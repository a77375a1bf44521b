import os

from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import millivid_env  # noqa: E402,F401  (registers the envs)
from millivid_env.world import World  # noqa: E402
from millivid_env.world.blocks import BEDROCK, STONE  # noqa: E402
from millivid_env.record.collect import collect  # noqa: E402
from millivid_env.record.recipe import ExplorerSpec, Recipe  # noqa: E402


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


def small_recipe(**overrides) -> Recipe:
    base = dict(env="millivid/VoxelLoop-v0", episodes=3, frames=40, seed=7, workers=1, block=8,
                env_kwargs={"size": [16, 16]}, explorers=(ExplorerSpec("revisit", kwargs={"leg_steps": 10}),), name="small")
    return Recipe(**{**base, **overrides})


def write_recipe(path: Path, episodes: int, frames: int, workers: int = 1) -> Path:
    path.write_text(f"""[dataset]
env = "millivid/VoxelLoop-v0"
episodes = {episodes}
frames = {frames}
seed = 7
workers = {workers}
block = 8

[env_kwargs]
size = [16, 16]

[[explorer]]
name = "revisit"
leg_steps = 10
""")
    return path


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    """A collected dataset shared by read-only tests."""
    out = tmp_path_factory.mktemp("data") / "small"
    collect(small_recipe(), out)
    return out
