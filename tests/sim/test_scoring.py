"""Decoding latents to frames and block-id maps, scored against the truth."""
import gymnasium as gym
import numpy as np
import torch

from millivid_env.sim.rollout import decode, decode_with_classes
from millivid_env.sim.simulation import DEFAULT_CHECKPOINT
from millivid_env.sim.world_model import load_world_model
from millivid_env.models.tokenizer_training import to_images


def test_class_maps_are_block_ids_that_match_the_rendered_truth():
    model = load_world_model(DEFAULT_CHECKPOINT)
    env = gym.make("millivid/VoxelLoop-v0", size=(64, 64))
    obs, info = env.reset(seed=3)
    frames, truth = [obs["pov"]], [info["block_id"]]
    for action in (1, 1, 1, 0, 2):
        obs, _, _, _, info = env.step(action)
        frames.append(obs["pov"]), truth.append(info["block_id"])
    with torch.no_grad():
        levels = model.tokenizer.encode(to_images(torch.from_numpy(np.stack(frames))))
    latents = torch.cat(levels, 1).numpy()  # finest level first, as datasets store them
    images, maps = decode_with_classes(model, latents)
    assert np.array_equal(images, decode(model, latents))
    known = set(model.tokenizer.decoder.classes.block_ids.tolist())
    assert set(np.unique(maps).tolist()) <= known, "class indices are mapped back to the block ids they stand for"
    truth = np.stack(truth)
    assert (maps == truth).mean() > 0.8, "the shipped tokenizer's head reads most pixels' blocks right"
