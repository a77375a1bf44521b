"""Gymnasium envs: the embedded voxel world, its macro-action variant, and MineRL and Crafter adapters."""
from gymnasium.envs.registration import register, registry

ENV_IDS = {
    "millivid/VoxelWorld-v0": "millivid_env.envs.voxel_world:VoxelWorldEnv",
    "millivid/VoxelLoop-v0": "millivid_env.envs.voxel_world:VoxelLoopEnv",
    "millivid/MineRL-v0": "millivid_env.envs.minerl_adapter:MineRLEnv",
    "millivid/Crafter-v0": "millivid_env.envs.crafter_adapter:CrafterEnv",
    "millivid/VoxelReach-v0": "millivid_env.envs.tasks:make_reach",
    "millivid/VoxelReturn-v0": "millivid_env.envs.tasks:make_return",
    "millivid/Sim-v0": "millivid_env.sim.env:SimEnv",
}
VECTOR_ENTRY_POINTS = {"millivid/Sim-v0": "millivid_env.sim.vector_env:SimVectorEnv"}  # batched in one forward pass
EPISODE_STEPS = {"millivid/VoxelReach-v0": 512, "millivid/VoxelReturn-v0": 512}  # tasks end by truncation at worst


def register_envs() -> None:
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in registry:
            register(env_id, entry_point=entry_point, vector_entry_point=VECTOR_ENTRY_POINTS.get(env_id),
                     max_episode_steps=EPISODE_STEPS.get(env_id))
