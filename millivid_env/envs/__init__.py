"""Gymnasium envs: the embedded voxel world, its macro-action variant and tasks, MineRL and Crafter
adapters, and the learned simulator."""
from gymnasium.envs.registration import register, registry

ENV_IDS = {
    "millivid/VoxelWorld-v0": "millivid_env.envs.voxel_world:VoxelWorldEnv",
    "millivid/VoxelLoop-v0": "millivid_env.envs.voxel_world:VoxelLoopEnv",
    "millivid/MineRL-v0": "millivid_env.envs.minerl_adapter:MineRLEnv",
    "millivid/Crafter-v0": "millivid_env.envs.crafter_adapter:CrafterEnv",
    "millivid/VoxelReach-v0": "millivid_env.envs.tasks:make_reach",
    "millivid/VoxelReturn-v0": "millivid_env.envs.tasks:make_return",
    "millivid/Sim-v0": "millivid_env.sim.env:SimEnv",
    "millivid/SimReach-v0": "millivid_env.sim.env:SimEnv",
}
SIM_VECTOR = "millivid_env.sim.vector_env:SimVectorEnv"  # every world in one forward pass
VECTOR_ENTRY_POINTS = {"millivid/Sim-v0": SIM_VECTOR, "millivid/SimReach-v0": SIM_VECTOR}
ENV_KWARGS = {"millivid/SimReach-v0": {"reward_head": "reach", "horizon": 512}}  # VoxelReach-v0's task, learned
EPISODE_STEPS = {"millivid/VoxelReach-v0": 512, "millivid/VoxelReturn-v0": 512}  # tasks end by truncation at worst


def register_envs() -> None:
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in registry:
            register(env_id, entry_point=entry_point, vector_entry_point=VECTOR_ENTRY_POINTS.get(env_id),
                     max_episode_steps=EPISODE_STEPS.get(env_id), kwargs=ENV_KWARGS.get(env_id, {}))
