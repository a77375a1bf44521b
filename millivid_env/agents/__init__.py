"""Policies that drive envs: scripted explorers for data collection (agents trained in the sim later)."""
from millivid_env.agents.explorers import EXPLORERS, Explorer, make_explorer

__all__ = ["EXPLORERS", "Explorer", "make_explorer"]
