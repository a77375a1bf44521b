import numpy as np
import pytest

from millivid_env.data.revisits import RevisitConfig, near, revisit_mask


def pairwise_revisit_mask(poses: np.ndarray, cfg: RevisitConfig) -> np.ndarray:
    """The definition, comparing every pair of frames: the oracle for short tracks."""
    mask = np.zeros(len(poses), bool)
    later = poses[cfg.context:]
    in_context = near(later, poses[:cfg.context], cfg).any(axis=1)
    seen_since = near(later, later, cfg)
    rows, cols = np.indices(seen_since.shape)
    mask[cfg.context:] = in_context & ~(seen_since & (cols < rows - cfg.recent)).any(axis=1)
    return mask


def random_track(rng: np.random.Generator, frames: int, step: float = 1.0) -> np.ndarray:
    xz = np.cumsum(rng.normal(size=(frames, 2)) * step, axis=0)
    yaw = np.cumsum(rng.normal(size=frames) * 20.0)
    return np.c_[xz[:, 0], np.zeros(frames), xz[:, 1], yaw, np.zeros(frames)]


def test_revisit_mask_marks_returns_to_the_context_only():
    cfg = RevisitConfig(context=10, radius=2.0, max_yaw=30.0, recent=3)
    out = [[float(i), 0.0, 0.0, 0.0, 0.0] for i in range(10)]  # walk +x facing yaw 0
    away = [[50.0 + i, 0.0, 0.0, 0.0, 0.0] for i in range(5)]  # far away
    back = [[3.0, 0.0, 0.2, 10.0, 0.0], [3.0, 0.0, 0.2, 120.0, 0.0]]  # back at x=3, then looking elsewhere
    again = [[50.0, 0.0, 0.0, 0.0, 0.0]] * 4 + [[3.0, 0.0, 0.0, 0.0, 0.0]]  # a place already revisited
    mask = revisit_mask(np.array(out + away + back + again), cfg)
    assert mask.tolist() == [False] * 15 + [True, False] + [False] * 4 + [False]


@pytest.mark.parametrize("seed", range(12))
def test_grid_search_matches_every_pair_compared(seed):
    rng = np.random.default_rng(seed)
    frames = int(rng.integers(20, 1200))
    cfg = RevisitConfig(context=int(rng.integers(0, frames)), radius=float(rng.uniform(0.5, 6.0)),
                        max_yaw=float(rng.uniform(5.0, 180.0)), recent=int(rng.integers(0, 100)))
    poses = random_track(rng, frames, step=float(rng.uniform(0.1, 2.0)))
    assert np.array_equal(revisit_mask(poses, cfg), pairwise_revisit_mask(poses, cfg))


def test_cameras_across_a_cell_border_or_at_negative_coordinates_are_near():
    cfg = RevisitConfig(context=1, radius=4.0, max_yaw=30.0, recent=0)
    poses = np.array([[-0.1, 0, -4.1, 0, 0], [0.1, 0, -3.9, 350.0, 0]])  # 0.28 apart, 10 degrees, four cells
    assert revisit_mask(poses, cfg).tolist() == [False, True]


def test_a_hundred_thousand_frame_track_out_and_back():
    """Walk 1,000 frames out along +x, 49,000 far away, back along the first path, and away again:
    exactly the way back's frames that face the way out's direction revisit."""
    out = np.c_[np.arange(1000) * 0.2, np.zeros(1000), np.zeros(1000), np.zeros(1000), np.zeros(1000)]
    rng = np.random.default_rng(0)
    away = random_track(rng, 49_000, step=0.5)
    away[:, 2] += 10_000.0  # a world away
    back = out[::-1].copy()
    back[1::2, 3] = 180.0  # every other frame looks the other way
    poses = np.concatenate([out, away, back, away])  # and away again: seen since, no revisit
    assert len(poses) == 100_000
    mask = revisit_mask(poses, RevisitConfig(context=1000, radius=2.0, max_yaw=30.0, recent=64))
    expected = np.zeros(len(poses), bool)
    expected[50_000:51_000:2] = True
    assert np.array_equal(mask, expected)
