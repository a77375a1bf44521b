"""`millivid encode`: write every frame's latent pyramid into its episode (resumable, batched)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from millivid_env.errors import UserError
from millivid_env.models import checkpoint
from millivid_env.models.tokenizer import Tokenizer, load_tokenizer
from millivid_env.models.tokenizer_training import to_images
from millivid_env.record import layout


def tokenizer_id(folder: Path) -> str:
    """Identifies the exact weights, so re-encoding with the same run is skipped and another run redoes it."""
    return checkpoint.weights_id(folder)


@torch.inference_mode()
def encode_frames(model: Tokenizer, rgb: np.ndarray) -> list[np.ndarray]:
    """uint8 (N, H, W, 3) -> per level (N, tokens_k, C) float16."""
    return [z.numpy().astype(layout.LATENT_DTYPE) for z in model.encode(to_images(torch.from_numpy(rgb)))]


def encode_dataset(tokenizer: Path, root: Path, batch: int = 256) -> dict[str, int]:
    model = load_tokenizer(tokenizer)
    run = tokenizer_id(tokenizer)
    layout.read_metadata(root)  # say "not a dataset" rather than "no episodes" for a wrong folder
    refs = [r for r in layout.episode_refs(root) if r.complete]
    if not refs:
        raise UserError(f"{root}: no complete episodes to encode")
    with layout.open_shard(refs[0].shard) as f:
        size = f[refs[0].name][layout.RGB].shape[1:3]
    if tuple(size) != (model.cfg.image_size,) * 2:
        raise UserError(f"{root} holds {size[0]}x{size[1]} frames; the tokenizer takes {model.cfg.image_size}x{model.cfg.image_size}")
    done = encoded = 0
    with tqdm(total=sum(r.steps + 1 for r in refs), desc="encode", unit="frame") as bar:
        for ref in refs:
            with layout.open_shard(ref.shard, "a") as shard:
                group = shard[ref.name]
                if layout.latents_done(group, run):
                    done += 1
                    bar.update(ref.steps + 1)
                    continue
                latents = layout.reset_latents(group, run)
                arrays: list[layout.GrowingArray] = []
                for start in range(0, ref.steps + 1, batch):
                    levels = encode_frames(model, group[layout.RGB][start:min(start + batch, ref.steps + 1)])
                    if not arrays:
                        arrays = [layout.GrowingArray(layout.create_growing(latents, layout.latent_name(k), z.shape[1:], z.dtype,
                                                                           min(batch, layout.BLOCK), layout.COMPRESSION))
                                  for k, z in enumerate(levels)]
                    for array, z in zip(arrays, levels):
                        array.append(z)
                    bar.update(len(levels[0]))
                latents.attrs["complete"] = True
                shard.flush()
                encoded += 1
    return {"encoded": encoded, "already_done": done}
