"""MineRL-style action schema shared by every Minecraft-like env, and the paper's macro actions."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from gymnasium import spaces

from millivid_env.errors import UserError

BUTTONS = ("forward", "back", "left", "right", "jump", "sneak", "sprint", "attack", "use")
CAMERA_LIMIT = 180.0  # degrees per step, [pitch, yaw]

# The paper's three macro actions, each held for HOLD_TICKS game ticks.
MACRO_ACTIONS = ("forward_jump", "turn_left", "turn_right")
HOLD_TICKS = 9
TURN_DEGREES = 10.0


def action_space() -> spaces.Dict:
    return spaces.Dict(
        {**{b: spaces.Discrete(2) for b in BUTTONS},
         "camera": spaces.Box(-CAMERA_LIMIT, CAMERA_LIMIT, (2,), np.float32)}
    )


def noop() -> dict[str, Any]:
    return {**{b: 0 for b in BUTTONS}, "camera": np.zeros(2, np.float32)}


def validate(action: Any) -> dict[str, Any]:
    """Check a Dict action quickly and say exactly what is wrong; missing buttons count as 0."""
    if not isinstance(action, Mapping):
        raise UserError(f"action must be a dict with keys {BUTTONS + ('camera',)}, got {type(action).__name__}")
    unknown = set(action) - set(BUTTONS) - {"camera"}
    if unknown:
        raise UserError(f"unknown action keys {sorted(unknown)}; valid keys are {BUTTONS + ('camera',)}")
    for b in BUTTONS:
        if action.get(b, 0) not in (0, 1):
            raise UserError(f"action[{b!r}] must be 0 or 1, got {action[b]!r}")
    camera = np.asarray(action.get("camera", (0.0, 0.0)), np.float64)
    if camera.shape != (2,):
        raise UserError(f"action['camera'] must have shape (2,) as [pitch, yaw] degrees, got shape {camera.shape}")
    if not np.all(np.isfinite(camera)) or np.any(np.abs(camera) > CAMERA_LIMIT):
        raise UserError(f"action['camera'] must be finite degrees within +-{CAMERA_LIMIT}, got {camera.tolist()}")
    return action


def macro_tick_action(macro: int) -> dict[str, Any]:
    """The per-tick Dict action of a macro action (the turn is spread evenly over its ticks)."""
    if macro not in range(len(MACRO_ACTIONS)):
        raise UserError(f"macro action must be an int in [0, {len(MACRO_ACTIONS)}), got {macro!r}")
    action = noop()
    if MACRO_ACTIONS[macro] == "forward_jump":
        action["forward"] = action["jump"] = 1
    else:
        sign = -1.0 if MACRO_ACTIONS[macro] == "turn_left" else 1.0
        action["camera"] = np.array([0.0, sign * TURN_DEGREES / HOLD_TICKS], np.float32)
    return action
