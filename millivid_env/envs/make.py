"""`make_env`: gymnasium.make with a clear error for ids that are not registered."""
from __future__ import annotations

from typing import Any

import gymnasium as gym

from millivid_env.errors import UserError



def make_env(env_id: str, **kwargs: Any) -> gym.Env:
    if env_id not in gym.registry:
        ours = sorted(k for k in gym.registry if k.startswith("millivid/"))
        raise UserError(f"unknown env id {env_id!r}; registered millivid envs: {', '.join(ours)} (or any installed Gymnasium id)")
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.DependencyNotInstalled as e:  # MineRL, Crafter: how to get them, in one line
        raise UserError(str(e)) from None
