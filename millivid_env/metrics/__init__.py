"""Image metrics that need no downloaded weights: PSNR, SSIM, block-class IoU from the palette."""
