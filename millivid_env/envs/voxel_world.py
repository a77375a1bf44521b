"""`millivid/VoxelWorld-v0` and `millivid/VoxelLoop-v0`: the embedded world as Gymnasium envs."""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from millivid_env.envs.actions import HOLD_TICKS, MACRO_ACTIONS, action_space, macro_tick_action, validate
from millivid_env.errors import UserError
from millivid_env.world import Camera, World, WorldConfig, block_table
from millivid_env.world.blocks import WATER
from millivid_env.world.physics import EYE_HEIGHT, IN_WATER, X, Y, Z, new_state, tick

MAX_SEED = 2**63 - 1


def wrap_yaw(yaw: float) -> float:
    return (yaw + 180.0) % 360.0 - 180.0


class VoxelWorldEnv(gym.Env):
    """First-person Minecraft-like world with MineRL-style Dict actions; one step is one game tick.

    Observation `{"pov": (H, W, 3) uint8}`; `info` holds `pose` (x, y, z, yaw, pitch) of the feet
    in blocks and degrees, `depth` (H, W) float32 blocks along each ray, `block_id` (H, W) uint8.
    A world is generated per episode from the reset seed, or fixed by `world_seed`;
    `reset(options={"pose": (x, y, z, yaw, pitch)})` starts from a chosen pose.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        size: tuple[int, int] = (64, 64),
        fov: float = 70.0,
        world_size: tuple[int, int, int] = (256, 64, 256),
        world_seed: int | None = None,
        place_block: str = "planks",
        render_mode: str | None = None,
    ) -> None:
        self.camera = Camera(size=tuple(size), fov=fov)
        self.world_config = WorldConfig(size=tuple(world_size))
        if world_seed is not None:
            check_seed(world_seed)
        if render_mode not in (None, "rgb_array"):
            raise UserError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.world_seed = world_seed
        self.place_id = block_table().id(place_block)
        self.render_mode = render_mode
        h, w = self.camera.size
        self.observation_space = spaces.Dict({"pov": spaces.Box(0, 255, (h, w, 3), np.uint8)})
        self.action_space = action_space()
        self._pristine: World | None = None
        self.world: World | None = None
        self._solid = block_table().solid
        self._last_pov: np.ndarray | None = None

    # -- Gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            check_seed(seed)
        super().reset(seed=seed)
        world_seed = self.world_seed if self.world_seed is not None else int(self.np_random.integers(MAX_SEED))
        if self._pristine is None or self._pristine.seed != world_seed:
            self._pristine = World.generate(world_seed, self.world_config)
        self.world = self._pristine.copy()
        x, y, z = self.world.spawn_point(self.np_random)
        self.yaw, self.pitch = float(self.np_random.uniform(-180, 180)), 0.0
        if options and "pose" in options:
            x, y, z, self.yaw, self.pitch = self._check_pose(options["pose"])
        self.state = new_state(x, y, z)
        self.ticks = 0
        return self._observe()

    def _check_pose(self, pose: Any) -> tuple[float, ...]:
        pose = np.asarray(pose, np.float64)
        sx, sy, sz = self.world_config.size
        if pose.shape != (5,) or not np.all(np.isfinite(pose)):
            raise UserError(f"options['pose'] must be 5 finite numbers (x, y, z, yaw, pitch), got {pose.tolist()}")
        x, y, z, yaw, pitch = pose
        if not (0 < x < sx and 0 <= y < sy and 0 < z < sz) or abs(pitch) > 90:
            raise UserError(f"options['pose'] {pose.tolist()} is outside the {sx}x{sy}x{sz} world or has |pitch| > 90")
        return float(x), float(y), float(z), wrap_yaw(float(yaw)), float(pitch)

    def step(self, action: dict[str, Any]):
        validate(action)
        self._tick(action)
        obs, info = self._observe()
        return obs, 0.0, False, False, info

    def render(self) -> np.ndarray | None:
        return self._last_pov if self.render_mode == "rgb_array" else None

    # -- mechanics -------------------------------------------------------------------------------
    @property
    def pose(self) -> np.ndarray:
        return np.array([self.state[X], self.state[Y], self.state[Z], self.yaw, self.pitch])

    @property
    def eye(self) -> tuple[float, float, float]:
        return self.state[X], self.state[Y] + EYE_HEIGHT, self.state[Z]

    def _tick(self, action: dict[str, Any]) -> None:
        """One game tick: look, move, then break or place under the crosshair."""
        if self.world is None:
            raise RuntimeError("call reset() before step()")
        get = action.get
        d_pitch, d_yaw = get("camera", (0.0, 0.0))
        self.pitch = float(np.clip(self.pitch + d_pitch, -90.0, 90.0))
        self.yaw = wrap_yaw(self.yaw + float(d_yaw))
        forward = get("forward", 0) - get("back", 0)
        strafe = get("right", 0) - get("left", 0)
        tick(self.world.blocks, self._solid, WATER, self.state, forward, strafe,
             bool(get("jump", 0)), bool(get("sneak", 0)), bool(get("sprint", 0)), self.yaw)
        if get("attack", 0):
            self.world.break_block(self.eye, self.yaw, self.pitch)
        if get("use", 0):
            self.world.place_block(self.eye, self.yaw, self.pitch, self.place_id, tuple(self.state[:3]))
        self.ticks += 1

    def _observe(self):
        pose = self.pose
        frames = self.camera.render_world(self.world, pose)
        self._last_pov = frames.rgb[0]
        info = {"pose": pose, "depth": frames.depth[0], "block_id": frames.block_id[0],
                "tick": self.ticks, "in_water": bool(self.state[IN_WATER])}
        return {"pov": frames.rgb[0]}, info


class VoxelLoopEnv(VoxelWorldEnv):
    """The paper's action set: Discrete(3) = forward+jump, turn left 10 deg, turn right 10 deg,
    each held for 9 ticks; one step returns the frame after the last tick."""

    action_names = MACRO_ACTIONS

    def __init__(self, hold_ticks: int = HOLD_TICKS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(hold_ticks, int) or hold_ticks < 1:
            raise UserError(f"hold_ticks must be a positive int, got {hold_ticks!r}")
        self.hold_ticks = hold_ticks
        self.action_space = spaces.Discrete(len(MACRO_ACTIONS))
        self._ticks = [macro_tick_action(m) for m in range(len(MACRO_ACTIONS))]
        if hold_ticks != HOLD_TICKS:
            for m, a in enumerate(self._ticks):
                a["camera"] = a["camera"] * HOLD_TICKS / hold_ticks

    def step(self, action: int):
        if not self.action_space.contains(action):
            raise UserError(f"action must be an int in [0, {len(MACRO_ACTIONS)}) {MACRO_ACTIONS}, got {action!r}")
        for _ in range(self.hold_ticks):
            self._tick(self._ticks[int(action)])
        obs, info = self._observe()
        return obs, 0.0, False, False, info


def check_seed(seed: Any) -> None:
    if not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise UserError(f"seed must be an int in [0, 2**63 - 1], got {seed!r}")
