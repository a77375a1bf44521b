"""Trainable models (the hierarchical tokenizer; the diffusion model later), their trainer and checkpoints."""
