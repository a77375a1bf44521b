"""Generated frames scored one by one against the recorded truth: pixels (PSNR, SSIM) and semantics
(block mIoU, landmark IoU against the true block ids), read two ways: the tokenizer's class head,
and the colour lookup on the generated pixels (which needs no head, so it scores any tokenizer)."""
from __future__ import annotations

import numpy as np
import torch

from millivid_env.metrics.psnr import psnr
from millivid_env.metrics.semantic import PaletteClassifier, semantic_mask, semantic_scores
from millivid_env.metrics.ssim import ssim
from millivid_env.models.tokenizer_training import to_images
from millivid_env.world import Camera

METRICS = ("psnr", "ssim", "miou", "landmark_iou", "miou_lookup", "landmark_iou_lookup")


def context_palette(rgb: np.ndarray, block_id: np.ndarray | None) -> PaletteClassifier | None:
    """The colour lookup fitted on an episode's context frames: the model saw them, and no scored
    frame is ever fitted on. None without true block ids."""
    return PaletteClassifier().fit(rgb, block_id) if block_id is not None else None


def frame_scores(frames: np.ndarray, classes: np.ndarray | None, truth: dict[str, np.ndarray],
                 palette: PaletteClassifier | None = None) -> dict[str, list[float]]:
    """Per generated frame: PSNR, SSIM, and block mIoU / landmark IoU of the class maps and of the
    colour lookup's reading of the frames (nan where there are no class maps or lookup, no true
    depth and block ids in `truth`, or no landmark in view)."""
    pred, target = to_images(torch.from_numpy(frames)), to_images(torch.from_numpy(truth["rgb"]))
    scores = {"psnr": psnr(pred, target).tolist(), "ssim": ssim(pred, target).tolist()}
    if "depth" not in truth or "block_id" not in truth:
        classes = palette = None
        truth = {**truth, "depth": np.zeros(frames.shape[:3], np.float32), "block_id": np.zeros(frames.shape[:3], np.uint8)}
    camera = Camera()
    mask = semantic_mask(truth["depth"], truth["block_id"], camera.view_distance * camera.fog_start)

    def semantics(maps: np.ndarray | None) -> tuple[list[float], list[float]]:
        scored = [semantic_scores(c, t, m) for c, t, m in zip(maps, truth["block_id"], mask)] if maps is not None else [None] * len(frames)
        return ([s["miou"] if s else float("nan") for s in scored],
                [s["landmark_iou"] if s and s["landmark_iou"] is not None else float("nan") for s in scored])

    scores["miou"], scores["landmark_iou"] = semantics(classes)
    scores["miou_lookup"], scores["landmark_iou_lookup"] = semantics(palette(frames) if palette is not None else None)
    return scores
