"""Gymnasium envs: the embedded voxel world, its macro-action variant, and MineRL and Crafter adapters."""
from gymnasium.envs.registration import register, registry

ENV_IDS = {
    "millivid/VoxelWorld-v0": "millivid_env.envs.voxel_world:VoxelWorldEnv",
    "millivid/VoxelLoop-v0": "millivid_env.envs.voxel_world:VoxelLoopEnv",
    "millivid/MineRL-v0": "millivid_env.envs.minerl_adapter:MineRLEnv",
    "millivid/Crafter-v0": "millivid_env.envs.crafter_adapter:CrafterEnv",
}


def register_envs() -> None:
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in registry:
            register(env_id, entry_point=entry_point)
