"""Peak signal-to-noise ratio for images in [0, 1]."""
import torch


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of (B, C, H, W) tensors in [0, 1] -> (B,)."""
    mse = (pred.clamp(0, 1) - target).square().flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp_min(1e-10))
