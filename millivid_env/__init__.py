"""MilliVid world-model toolkit: Minecraft-like worlds, datasets, tokenizer, simulator, benchmarks."""
from millivid_env.envs import ENV_IDS, register_envs

register_envs()

__all__ = ["ENV_IDS"]
__version__ = "0.1.0"
