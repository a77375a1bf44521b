import numpy as np
import torch

from millivid_env.metrics.psnr import psnr
from millivid_env.metrics.semantic import PaletteClassifier, semantic_mask, semantic_scores
from millivid_env.metrics.ssim import ssim
from millivid_env.world import Camera


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
