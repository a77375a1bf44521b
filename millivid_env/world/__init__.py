"""The embedded Minecraft-like world: block table, terrain, physics and the raycast renderer."""
from millivid_env.world.blocks import Block, BlockTable, block_table
from millivid_env.world.camera import Camera
from millivid_env.world.world import World
from millivid_env.world.worldgen import Landmark, WorldConfig

__all__ = ["Block", "BlockTable", "Camera", "Landmark", "World", "WorldConfig", "block_table"]
