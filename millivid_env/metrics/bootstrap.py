"""Bootstrap confidence intervals over episodes."""
from __future__ import annotations

import numpy as np

RESAMPLES = 2000


def bootstrap_ci(values: np.ndarray, level: float = 0.95, seed: int = 0) -> dict[str, float]:
    """Mean of `values` (one per episode) with a percentile bootstrap interval."""
    values = np.asarray(values, np.float64)
    if values.ndim != 1 or not len(values):
        raise ValueError(f"need a non-empty 1-D array of per-episode values, got shape {values.shape}")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (RESAMPLES, len(values)))].mean(1)
    tail = (1 - level) / 2 * 100
    return {"mean": float(values.mean()), "lo": float(np.percentile(means, tail)), "hi": float(np.percentile(means, 100 - tail)),
            "n": int(len(values))}
