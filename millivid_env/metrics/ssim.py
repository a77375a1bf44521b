"""Structural similarity (Wang et al. 2004) with an 11-tap Gaussian window, differentiable."""
import torch
import torch.nn.functional as F

WINDOW, SIGMA = 11, 1.5
C1, C2 = 0.01**2, 0.03**2


def _gaussian(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    x = torch.arange(WINDOW, device=device, dtype=dtype) - WINDOW // 2
    g = torch.exp(-x.square() / (2 * SIGMA**2))
    return g / g.sum()


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image mean SSIM of (B, C, H, W) tensors in [0, 1] -> (B,)."""
    channels = pred.shape[1]
    g = _gaussian(pred.device, pred.dtype)
    kernel_h = g.view(1, 1, 1, -1).expand(channels, 1, 1, WINDOW)
    kernel_v = g.view(1, 1, -1, 1).expand(channels, 1, WINDOW, 1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(F.pad(x, (WINDOW // 2,) * 2 + (0, 0), mode="reflect"), kernel_h, groups=channels)
        return F.conv2d(F.pad(x, (0, 0) + (WINDOW // 2,) * 2, mode="reflect"), kernel_v, groups=channels)

    mu_p, mu_t = blur(pred), blur(target)
    var_p = blur(pred * pred) - mu_p.square()
    var_t = blur(target * target) - mu_t.square()
    cov = blur(pred * target) - mu_p * mu_t
    score = ((2 * mu_p * mu_t + C1) * (2 * cov + C2)) / ((mu_p.square() + mu_t.square() + C1) * (var_p + var_t + C2))
    return score.flatten(1).mean(1)
