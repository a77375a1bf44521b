import numpy as np
import pytest

from millivid_env.bench.degraded_originals import degraded_scores
from millivid_env.metrics.semantic import PaletteClassifier
from millivid_env.world import block_table


@pytest.fixture(scope="module")
def flat_frames():
    """8 frames of 8x8-pixel squares in unshaded palette colours: the lookup reads them exactly."""
    rng = np.random.default_rng(0)
    truth = np.kron(rng.choice([1, 2, 3, 4, 6, 8, 16, 19], (8, 8, 8)), np.ones((1, 8, 8), np.int64)).astype(np.uint8)
    rgb = (block_table().palette[truth] * 255).round().astype(np.uint8)
    return rgb, truth, PaletteClassifier().fit(rgb, truth)


def test_each_degradation_lands_on_its_psnr_and_costs_more_mIoU_the_lower_it_goes(flat_frames):
    rgb, truth, palette = flat_frames
    rows = degraded_scores(rgb, truth, None, palette, psnrs=(18.0, 30.0))
    assert [(r["kind"], round(r["psnr"], 1)) for r in rows] == [("noise", 18.0), ("noise", 30.0), ("blur", 18.0), ("blur", 30.0)]
    by = {(r["kind"], round(r["psnr"])): r for r in rows}
    for kind in ("noise", "blur"):
        assert by[kind, 18]["strength"] > by[kind, 30]["strength"] > 0
        assert by[kind, 18]["miou"] < by[kind, 30]["miou"] <= 1.0
    # at one PSNR, errors spread over every pixel cost more classes than errors along edges
    assert by["noise", 18]["miou"] < by["blur", 18]["miou"]
