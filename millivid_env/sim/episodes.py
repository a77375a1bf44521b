"""A dataset's encoded episodes in memory: each frame's latent pyramid and the action that led to it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from millivid_env.data.windows import no_frames, split_episodes
from millivid_env.errors import UserError
from millivid_env.record import layout

ACTION = f"{layout.ACTIONS}/action"


@dataclass
class EncodedEpisode:
    name: str
    latents: np.ndarray  # (T + 1, tokens of all levels, C) float16, finest level first
    frame_actions: np.ndarray  # (T + 1,) the action that led to each frame; `actions` (no action) for frame 0
    ref: layout.EpisodeRef
    tokenizer: str  # id of the tokenizer the latents came from


def tokenizer_of(group) -> str:
    return str(group[layout.LATENTS].attrs.get("tokenizer", "")) if layout.LATENTS in group else ""


def read_encoded(root: Path, ref: layout.EpisodeRef, actions: int, tokenizer: str | None,
                 extra: tuple[str, ...] = ()) -> tuple[EncodedEpisode, dict[str, np.ndarray]]:
    """One encoded episode (and the arrays at the layout paths `extra`), checked as `load_encoded` says."""
    with layout.open_shard(ref.shard) as f:
        group = f[ref.name]
        found = tokenizer_of(group)
        if not layout.latents_done(group, found):
            raise UserError(f"{root}: {ref.name} has no latents; run `millivid encode --data {root}` first")
        if tokenizer is not None and found != tokenizer:
            raise UserError(f"{root}: {ref.name} was encoded by tokenizer {found}, this simulator uses {tokenizer}")
        if ACTION not in group or group[ACTION].ndim != 1 or not np.issubdtype(group[ACTION].dtype, np.integer):
            raise UserError(f"{root}: {ref.name} needs one discrete action per step in {ACTION} "
                            f"(found {layout.action_paths(group)}); the simulator conditions on Discrete actions")
        taken = group[ACTION][:]
        if len(taken) and (taken.min() < 0 or taken.max() >= actions):
            raise UserError(f"{root}: {ref.name} has actions in [{taken.min()}, {taken.max()}], the simulator knows {actions}")
        levels = [group[layout.latent_path(k)][:] for k in range(len(group[layout.LATENTS]))]
        arrays = {path: group[path][:] for path in extra}
    episode = EncodedEpisode(ref.name, np.concatenate(levels, 1), np.concatenate([[actions], taken]).astype(np.int64), ref, found)
    return episode, arrays


def load_encoded(root: str | Path, split: str, actions: int, tokenizer: str | None = None,
                 limit: int | None = None) -> list[EncodedEpisode]:
    """The complete, encoded episodes of `split`; every one must hold latents of one tokenizer
    (`tokenizer`, an id, when given) and one discrete action per step below `actions`."""
    root = Path(root)
    refs = split_episodes(root, split)
    if not refs:
        raise no_frames(root, split)
    episodes = []
    for ref in refs[:limit]:
        episode, _ = read_encoded(root, ref, actions, tokenizer)
        tokenizer = episode.tokenizer
        episodes.append(episode)
    return episodes


def find_episode(root: str | Path, index: int) -> layout.EpisodeRef:
    refs = {layout.episode_index(r.name): r for r in split_episodes(Path(root), "all")}
    if index not in refs:
        raise UserError(f"{root}: no complete episode {index} (it has {len(refs)}: {sorted(refs)[:5]}...)")
    return refs[index]
