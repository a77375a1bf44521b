import numpy as np
import torch

from millivid_env.metrics.psnr import psnr
from millivid_env.metrics.semantic import PaletteClassifier, landmark_iou_by_cover, semantic_mask, semantic_scores
from millivid_env.metrics.ssim import ssim
from millivid_env.world import Camera, block_table


def test_psnr_and_ssim_known_values():
    a = torch.full((1, 3, 16, 16), 0.5)
    assert psnr(a + 0.1, a).item() == torch.tensor(20.0).item() or abs(psnr(a + 0.1, a).item() - 20.0) < 1e-4
    image = torch.rand(2, 3, 32, 32)
    assert torch.allclose(ssim(image, image), torch.ones(2), atol=1e-5)
    assert ssim(image, torch.rand(2, 3, 32, 32)).max() < 0.2


def test_palette_recovers_classes_of_rendered_frames(world):
    camera = Camera(size=(48, 48))
    poses = [np.array([*world.spawn_point(np.random.default_rng(s)), s * 40.0, 5.0]) for s in range(6)]
    frames = [camera.render_world(world, p) for p in poses]
    rgb = np.concatenate([f.rgb for f in frames])
    ids = np.concatenate([f.block_id for f in frames])
    depth = np.concatenate([f.depth for f in frames])
    mask = semantic_mask(depth, ids, camera.view_distance * camera.fog_start)
    prior_only = PaletteClassifier()
    assert semantic_scores(prior_only(rgb), ids, mask)["miou"] > 0.6  # the rendering rules alone
    fitted = PaletteClassifier().fit(rgb[:3], ids[:3])
    assert semantic_scores(fitted(rgb[3:]), ids[3:], mask[3:])["miou"] > 0.85


def test_landmark_iou_is_none_without_landmarks():
    ids = np.ones((4, 4), np.uint8)
    scores = semantic_scores(ids, ids)
    assert scores["landmark_iou"] is None and scores["miou"] == 1.0


def test_landmark_iou_by_cover_bins_each_view_by_its_share_of_the_frame():
    tower, other = (b.id for b in block_table().landmarks[:2])
    truth = np.ones((3, 10, 10), np.uint8)  # grass
    truth[0, 0, 0] = tower                  # 1 pixel: 1% of the frame, the low edge of "1-5%"
    truth[1, :3, :] = tower                 # 30%: frame-filling
    truth[2, :2, :] = other                 # 20%
    pred = truth.copy()
    pred[1, 0, :] = 1                       # the 30% view loses a third of its pixels
    pred[0, 0, 0] = 1                       # the speck is lost
    pred[0, 5, 5] = tower                   # and painted elsewhere in its own frame
    pred[2, 9, 9] = tower                   # a tower in a frame without one: not counted
    scores = landmark_iou_by_cover(pred, truth)
    assert scores["<1%"] == {"pairs": 0, "iou": None}
    assert scores["1-5%"] == {"pairs": 1, "iou": 0.0}
    assert scores["5-20%"] == {"pairs": 0, "iou": None}
    assert scores[">=20%"]["pairs"] == 2 and abs(scores[">=20%"]["iou"] - (20 + 20) / (30 + 20)) < 1e-9
    masked = landmark_iou_by_cover(pred, truth, mask=truth != tower)  # masking out every tower pixel
    assert masked[">=20%"] == {"pairs": 1, "iou": 1.0}


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_episodes():
    import numpy as np

    from millivid_env.metrics.bootstrap import bootstrap_ci

    rng = np.random.default_rng(0)
    few, many = bootstrap_ci(rng.normal(3, 1, 8)), bootstrap_ci(rng.normal(3, 1, 800))
    assert few["lo"] < few["mean"] < few["hi"] and many["lo"] < 3 < many["hi"]
    assert many["hi"] - many["lo"] < few["hi"] - few["lo"]
    assert bootstrap_ci(np.full(5, 2.0)) == {"mean": 2.0, "lo": 2.0, "hi": 2.0, "n": 5}
