import json
import threading
from pathlib import Path

import numpy as np
import pytest

from millivid_env.view.server import serve


def write_rollout(folder: Path, episode: int, context: int, frames: int, size: int = 16, psnr_nan_at: int | None = None) -> Path:
    """A `millivid rollout` folder: generated frames a flat grey that brightens frame by frame."""
    folder.mkdir(parents=True)
    generated = np.repeat(np.linspace(40, 200, frames).astype(np.uint8)[:, None, None, None], size, 1)
    generated = np.repeat(np.repeat(generated, size, 2), 3, 3)
    np.savez_compressed(folder / "rollout.npz", generated=generated)
    psnr = [float(20 + i) for i in range(frames)]
    if psnr_nan_at is not None:
        psnr[psnr_nan_at] = None
    (folder / "rollout.json").write_text(json.dumps({"sim": "runs/sim-x", "strategy": "millivid", "episode": episode,
                                                     "context": context, "frames": frames,
                                                     "scores": {"psnr": psnr, "landmark_iou": [0.5] * frames}}))
    return folder


@pytest.fixture
def viewer(small_dataset, tmp_path):
    """A running viewer on the small dataset with one rollout of episode 0 (frames 8-23); yields its URL."""
    rollouts = write_rollout(tmp_path / "rollouts" / "a", episode=0, context=8, frames=16)
    server = serve(small_dataset, [rollouts.parent], port=0)
    lines = []
    server.log = lines.append
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.lines = lines
    yield server
    server.shutdown()
    server.server_close()
    server.catalog.close()
