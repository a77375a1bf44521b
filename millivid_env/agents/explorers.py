"""Scripted explorers that drive an env for data collection.

They think in the paper's macro actions (forward+jump, turn left, turn right). On a Discrete(3)
env (`VoxelLoop-v0`) they return macro ids; on a MineRL-style Dict env they hold each macro for
its ticks, so the same explorer records both kinds of dataset.
"""
from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
from gymnasium import spaces

from millivid_env.envs.actions import HOLD_TICKS, MACRO_ACTIONS, TURN_DEGREES, macro_tick_action
from millivid_env.errors import UserError

FORWARD, LEFT, RIGHT = range(len(MACRO_ACTIONS))


def heading_to(pose: np.ndarray, target: np.ndarray) -> float:
    """Signed yaw change (degrees, + = turn right) that faces `target` (x, z) from `pose`."""
    desired = math.degrees(math.atan2(-(target[0] - pose[0]), target[1] - pose[2]))
    return (desired - pose[3] + 180.0) % 360.0 - 180.0


class Explorer:
    """Base class: subclasses implement `choose(pose) -> macro id`."""

    def __init__(self, action_space: spaces.Space, seed: int | None = None) -> None:
        if isinstance(action_space, spaces.Discrete) and action_space.n == len(MACRO_ACTIONS):
            self.per_tick = False
        elif isinstance(action_space, spaces.Dict) and "camera" in action_space.spaces:
            self.per_tick = True
        else:
            raise UserError(f"explorers drive Discrete(3) macro or MineRL-style Dict action spaces, got {action_space}")
        self.seed = seed
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(self.seed if seed is None else seed)
        self._macro, self._held = FORWARD, HOLD_TICKS
        self._last_pose: np.ndarray | None = None

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        if not self.per_tick:
            return self._decide(info["pose"])
        if self._held >= HOLD_TICKS:
            self._macro, self._held = self._decide(info["pose"]), 0
        self._held += 1
        return macro_tick_action(self._macro)

    def _decide(self, pose: np.ndarray) -> int:
        macro = self.choose(pose)
        self._last_pose = np.array(pose)
        self._last_macro = macro
        return macro

    def stuck(self, pose: np.ndarray) -> bool:
        """True when the last forward move got us almost nowhere (a wall, a cliff, a tree)."""
        if self._last_pose is None or self._last_macro != FORWARD:
            return False
        return math.dist(pose[[0, 2]], self._last_pose[[0, 2]]) < 0.25

    def choose(self, pose: np.ndarray) -> int:
        raise NotImplementedError


class RandomWalk(Explorer):
    """Mostly forward, with runs of turns in one direction; turns away when blocked."""

    def __init__(self, action_space: spaces.Space, seed: int | None = None, forward_prob: float = 0.7) -> None:
        self.forward_prob = forward_prob
        super().__init__(action_space, seed)

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._turns = 0
        self._turn = LEFT

    def choose(self, pose: np.ndarray) -> int:
        if self._turns == 0 and (self.stuck(pose) or self.rng.random() > self.forward_prob):
            self._turns = int(self.rng.integers(1, 7))
            self._turn = LEFT if self.rng.random() < 0.5 else RIGHT
        if self._turns > 0:
            self._turns -= 1
            return self._turn
        return FORWARD


class LookAround(Explorer):
    """Turns a full circle on the spot, walks a few steps, and looks around again."""

    def __init__(self, action_space: spaces.Space, seed: int | None = None, walk_steps: tuple[int, int] = (6, 16)) -> None:
        self.walk_steps = walk_steps
        super().__init__(action_space, seed)

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._plan: list[int] = []

    def choose(self, pose: np.ndarray) -> int:
        if self.stuck(pose):
            self._plan = [RIGHT] * int(self.rng.integers(3, 9))
        if not self._plan:
            spin = LEFT if self.rng.random() < 0.5 else RIGHT
            self._plan = [spin] * int(round(360 / TURN_DEGREES)) + [FORWARD] * int(self.rng.integers(*self.walk_steps))
        return self._plan.pop(0)


class RevisitWalker(Explorer):
    """Walks away along a random path, then back along it, then out again, and so on.

    Every frame after the first leg therefore revisits places (and, on the outward legs, views)
    seen during that first leg, as the paper's revisit test paths do.
    """

    def __init__(self, action_space: spaces.Space, seed: int | None = None, leg_steps: int = 96,
                 reach: float = 1.5) -> None:
        self.leg_steps, self.reach = leg_steps, reach
        super().__init__(action_space, seed)

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._outbound = RandomWalk(spaces.Discrete(len(MACRO_ACTIONS)), seed=int(self.rng.integers(2**31)), forward_prob=0.85)
        self.waypoints: list[np.ndarray] = []
        self._route: list[np.ndarray] = []
        self._steps = 0
        self._stuck_count = 0

    def choose(self, pose: np.ndarray) -> int:
        self._steps += 1
        if self._steps <= self.leg_steps:
            if not self.waypoints or math.dist(pose[[0, 2]], self.waypoints[-1]) > 1.0:
                self.waypoints.append(np.array(pose[[0, 2]]))
            return self._outbound._decide(pose)
        if not self._route:
            # Back to the start, then out along the first leg again, for as long as the episode runs.
            at_start = math.dist(pose[[0, 2]], self.waypoints[0]) < math.dist(pose[[0, 2]], self.waypoints[-1])
            self._route = list(self.waypoints) if at_start else list(reversed(self.waypoints))
        return self._follow(pose)

    def _follow(self, pose: np.ndarray) -> int:
        self._stuck_count = self._stuck_count + 1 if self.stuck(pose) else 0
        while self._route and (math.dist(pose[[0, 2]], self._route[0]) < self.reach or self._stuck_count > 2):
            self._route.pop(0)
            self._stuck_count = 0
        if not self._route:
            return FORWARD
        turn = heading_to(pose, self._route[0])
        if abs(turn) > TURN_DEGREES * 0.75:
            return RIGHT if turn > 0 else LEFT
        return FORWARD


class GoalSeeker(Explorer):
    """Heads for the task's goal (`info["task"]["goal"]`: x, z), with random detours and a random
    walk away from obstacles: task data with successes in it, which random walks rarely reach."""

    def __init__(self, action_space: spaces.Space, seed: int | None = None, detour: float = 0.03) -> None:
        self.detour = detour
        super().__init__(action_space, seed)

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._walk = RandomWalk(spaces.Discrete(len(MACRO_ACTIONS)), seed=int(self.rng.integers(2**31)))
        self._goal: np.ndarray | None = None
        self._wander = 0

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        self._goal = info.get("task", {}).get("goal")
        return super().act(obs, info)

    def choose(self, pose: np.ndarray) -> int:
        if self._wander == 0 and (self.stuck(pose) or self.rng.random() < self.detour):
            self._wander = int(self.rng.integers(4, 12))
        if self._goal is None or self._wander > 0:
            self._wander = max(0, self._wander - 1)
            return self._walk._decide(pose)
        turn = heading_to(pose, self._goal)
        if abs(turn) > TURN_DEGREES * 0.75:
            return RIGHT if turn > 0 else LEFT
        return FORWARD


class UniformRandom:
    """Uniform samples of any action space (for third-party envs such as Crafter)."""

    def __init__(self, action_space: spaces.Space, seed: int | None = None) -> None:
        self.space = copy.deepcopy(action_space)  # its own RNG, so the env's space is untouched
        self.space.seed(seed)

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.space.seed(seed)

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        return self.space.sample()


EXPLORERS = {"random": RandomWalk, "look_around": LookAround, "revisit": RevisitWalker, "seek": GoalSeeker,
             "uniform": UniformRandom}


def make_explorer(name: str, action_space: spaces.Space, seed: int | None = None, **kwargs: Any) -> Explorer | UniformRandom:
    if name not in EXPLORERS:
        raise UserError(f"unknown explorer {name!r}; choose one of {sorted(EXPLORERS)}")
    return EXPLORERS[name](action_space, seed=seed, **kwargs)
