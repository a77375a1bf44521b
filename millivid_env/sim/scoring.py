"""Generated frames scored one by one against the recorded truth: pixels (PSNR, SSIM) and, through
the tokenizer's class head, semantics (block mIoU, landmark IoU against the true block ids)."""
from __future__ import annotations

import numpy as np
import torch

from millivid_env.metrics.psnr import psnr
from millivid_env.metrics.semantic import semantic_mask, semantic_scores
from millivid_env.metrics.ssim import ssim
from millivid_env.models.tokenizer_training import to_images
from millivid_env.world import Camera

METRICS = ("psnr", "ssim", "miou", "landmark_iou")


def frame_scores(frames: np.ndarray, classes: np.ndarray | None, truth: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """Per generated frame: PSNR, SSIM, and block mIoU / landmark IoU of the class maps (nan where
    there are no class maps, no true depth and block ids in `truth`, or no landmark in view)."""
    pred, target = to_images(torch.from_numpy(frames)), to_images(torch.from_numpy(truth["rgb"]))
    scores = {"psnr": psnr(pred, target).tolist(), "ssim": ssim(pred, target).tolist()}
    if "depth" not in truth or "block_id" not in truth:
        classes = None
        truth = {**truth, "depth": np.zeros(frames.shape[:3], np.float32), "block_id": np.zeros(frames.shape[:3], np.uint8)}
    camera = Camera()
    mask = semantic_mask(truth["depth"], truth["block_id"], camera.view_distance * camera.fog_start)
    semantic = [semantic_scores(c, t, m) if classes is not None else None
                for c, t, m in zip(classes if classes is not None else [None] * len(frames), truth["block_id"], mask)]
    scores["miou"] = [s["miou"] if s else float("nan") for s in semantic]
    scores["landmark_iou"] = [s["landmark_iou"] if s and s["landmark_iou"] is not None else float("nan") for s in semantic]
    return scores
