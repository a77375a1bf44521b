"""A dataset's encoded episodes in memory: each frame's latent pyramid and the action that led to it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from millivid_env.data.windows import no_frames, split_episodes
from millivid_env.envs.action_codec import ActionCodec
from millivid_env.errors import UserError
from millivid_env.record import layout


@dataclass
class EncodedEpisode:
    name: str
    latents: np.ndarray  # (T + 1, tokens of all levels, C) float16, finest level first
    frame_actions: np.ndarray  # (T + 1,) the action id that led to each frame; the codec's `none` for frame 0
    ref: layout.EpisodeRef
    tokenizer: str  # id of the tokenizer the latents came from


def tokenizer_of(group) -> str:
    return str(group[layout.LATENTS].attrs.get("tokenizer", "")) if layout.LATENTS in group else ""


def read_encoded(root: Path, ref: layout.EpisodeRef, codec: ActionCodec, tokenizer: str | None,
                 extra: tuple[str, ...] = ()) -> tuple[EncodedEpisode, dict[str, np.ndarray]]:
    """One encoded episode (and the arrays at the layout paths `extra`), checked as `load_encoded` says."""
    with layout.open_shard(ref.shard) as f:
        group = f[ref.name]
        found = tokenizer_of(group)
        if not layout.latents_done(group, found):
            raise UserError(f"{root}: {ref.name} has no latents; run `millivid encode --data {root}` first")
        if tokenizer is not None and found != tokenizer:
            raise UserError(f"{root}: {ref.name} was encoded by tokenizer {found}, this simulator uses {tokenizer}")
        recorded = {path.removeprefix(f"{layout.ACTIONS}/"): group[path][:] for path in layout.action_paths(group)}
        try:
            taken = codec.encode_columns(recorded)
        except UserError as e:
            raise UserError(f"{root}: {ref.name}: {e}") from None
        levels = [group[layout.latent_path(k)][:] for k in range(len(group[layout.LATENTS]))]
        arrays = {path: group[path][:] for path in extra}
    episode = EncodedEpisode(ref.name, np.concatenate(levels, 1), np.concatenate([[codec.none], taken]).astype(np.int64), ref, found)
    return episode, arrays


def load_encoded(root: str | Path, split: str, codec: ActionCodec, tokenizer: str | None = None,
                 limit: int | None = None) -> list[EncodedEpisode]:
    """The complete, encoded episodes of `split`; every one must hold latents of one tokenizer
    (`tokenizer`, an id, when given) and one action per step that `codec` knows."""
    root = Path(root)
    refs = split_episodes(root, split)
    if not refs:
        raise no_frames(root, split)
    episodes = []
    for ref in refs[:limit]:
        episode, _ = read_encoded(root, ref, codec, tokenizer)
        tokenizer = episode.tokenizer
        episodes.append(episode)
    return episodes


def find_episode(root: str | Path, index: int) -> layout.EpisodeRef:
    refs = {layout.episode_index(r.name): r for r in split_episodes(Path(root), "all")}
    if index not in refs:
        raise UserError(f"{root}: no complete episode {index} (it has {len(refs)}: {sorted(refs)[:5]}...)")
    return refs[index]
