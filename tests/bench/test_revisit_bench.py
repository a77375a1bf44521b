
import numpy as np
import pytest

from millivid_env.bench.revisit_bench import RevisitBenchConfig, revisit_gaps, summarise
from millivid_env.sim.scoring import METRICS, frame_scores


def out_and_back(leg: int, back: int) -> np.ndarray:
    """Walk +x for `leg` frames, turn round, walk back `back` frames: (frames, 5) poses."""
    x = np.concatenate([np.arange(leg, dtype=float), leg - 1 - np.arange(back, dtype=float)])
    yaw = np.concatenate([np.zeros(leg), np.full(back, 180.0)])
    return np.stack([x, np.zeros_like(x), np.zeros_like(x), yaw, np.zeros_like(x)], 1)


def test_gaps_count_frames_since_the_place_was_last_seen_in_the_context():
    cfg = RevisitBenchConfig(context=40, frames=60, radius=1.5, max_yaw=200, recent=10, gap_edges=(20, 60))
    poses = out_and_back(40, 60)  # frame 40 + i stands at x = 39 - i, which the context saw at frame 39 - i
    gaps = revisit_gaps(poses, cfg)
    assert gaps.shape == (60,)
    # just after the turn the place was seen within `recent` frames: not a revisit; later it is, seen last at 39 - i (or a neighbour)
    assert (gaps[:5] == -1).all()
    for i in range(6, 40):
        assert gaps[i] in ((40 + i) - (39 - i) - 1, (40 + i) - (39 - i)), (i, gaps[i])
    assert (gaps[41:] == -1).all(), "beyond the start of the context nothing was seen"
    facing = RevisitBenchConfig(context=40, frames=60, radius=1.5, max_yaw=30, recent=10)
    assert (revisit_gaps(poses, facing) == -1).all(), "walking back looks the other way: no revisit"


def test_frame_scores_on_known_images():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    block_id = np.zeros((3, 16, 16), np.uint8)
    block_id[:, :8] = 1  # stone in the top half, sky below
    truth = {"rgb": rgb, "depth": np.full((3, 16, 16), 1.0, np.float32), "block_id": block_id}
    same = frame_scores(rgb, block_id, truth)
    assert np.allclose(same["ssim"], 1, atol=1e-4) and min(same["psnr"]) > 60 and same["miou"] == [1.0] * 3
    assert np.isnan(same["landmark_iou"]).all(), "no landmark in view"
    swapped = frame_scores(np.roll(rgb, 1, 0), 1 - block_id, truth)
    assert swapped["miou"][0] == 0.0 and max(swapped["psnr"]) < 15
    assert np.isnan(frame_scores(rgb, None, truth)["miou"]).all()
    pixels_only = frame_scores(rgb, block_id, {"rgb": truth["rgb"]})  # a dataset without depth and block ids
    assert pixels_only["psnr"] == same["psnr"] and np.isnan(pixels_only["landmark_iou"]).all()


def test_summary_splits_revisit_frames_and_bins_gaps():
    cfg = RevisitBenchConfig(frames=4, gap_edges=(10,), length_bin=2)
    record = lambda v: {"scores": {m: v for m in METRICS}, "gaps": [-1, 5, 20, -1]}
    summary = summarise({"m": {"a": record([1.0, 2.0, 3.0, 4.0]), "b": record([3.0, 4.0, 5.0, 6.0])}}, cfg)["m"]["psnr"]
    assert summary["revisit"]["mean"] == pytest.approx(np.mean([2.5, 4.5]))
    assert summary["other"]["mean"] == pytest.approx(np.mean([2.5, 4.5]))
    assert summary["gap<10"]["mean"] == pytest.approx(3.0) and summary["gap>=10"]["mean"] == pytest.approx(4.0)
    assert summary["frames 1-2"]["mean"] == pytest.approx(2.5) and summary["frames 3-4"]["mean"] == pytest.approx(4.5)
    assert summary["all"]["n"] == 2


def test_gap_bins_keep_their_order_when_the_first_episode_lacks_the_short_ones():
    cfg = RevisitBenchConfig(frames=2, gap_edges=(10, 20), length_bin=2)
    record = lambda gaps: {"scores": {m: [1.0, 2.0] for m in METRICS}, "gaps": gaps}
    summary = summarise({"m": {"a": record([15, 30]), "b": record([5, -1])}}, cfg)["m"]["psnr"]
    assert [k for k in summary if k.startswith("gap")] == ["gap<10", "gap 10-19", "gap>=20"]


def test_cost_panels_show_each_models_tokens_and_speed_beside_its_revisit_psnr():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from millivid_env.bench.revisit_bench import plot_costs

    ci = lambda mean: {"psnr": {"revisit": {"mean": mean, "lo": mean - 1, "hi": mean + 1, "n": 8}}}
    summary = {"copy": ci(10.0), "a": {**ci(12.0), "tokens_per_step": 640, "seconds_per_frame": 0.1},
               "b": {**ci(11.0), "tokens_per_step": 595, "seconds_per_frame": 0.06}}
    fig, (tokens_ax, quality_ax) = plt.subplots(1, 2)
    plot_costs(summary, {"copy": "C0", "a": "C1", "b": "C2"}, tokens_ax, quality_ax)
    assert [bar.get_height() for bar in tokens_ax.patches] == [640, 595], "references have no cost: only models get a bar"
    points = [bars.lines[0].get_xydata()[0].tolist() for bars in quality_ax.containers]
    assert points == [[0.1, 12.0], [0.06, 11.0]]
    assert [line.get_ydata()[0] for line in quality_ax.lines if line.get_linestyle() == "--"] == [10.0]
    plt.close(fig)


def test_colour_lookup_scores_frames_without_a_class_head():
    from millivid_env.sim.scoring import context_palette
    from millivid_env.world import block_table

    colours = (block_table().palette * 255).astype(np.uint8)
    block_id = np.zeros((4, 16, 16), np.uint8)
    block_id[:, :8] = 1
    rgb = colours[block_id]  # each block in its own flat colour, the sky (0) in its own
    truth = {"rgb": rgb, "depth": np.full((4, 16, 16), 1.0, np.float32), "block_id": block_id}
    palette = context_palette(rgb[:2], block_id[:2])
    same = frame_scores(rgb, None, truth, palette)
    assert same["miou_lookup"] == [1.0] * 4 and np.isnan(same["miou"]).all(), "no class head: only the lookup reads classes"
    flipped = frame_scores(np.ascontiguousarray(rgb[:, ::-1]), None, truth, palette)
    assert flipped["miou_lookup"] == [0.0] * 4
    assert context_palette(rgb, None) is None
    assert np.isnan(frame_scores(rgb, None, {"rgb": rgb}, palette)["miou_lookup"]).all(), "no true block ids, nothing to read against"
