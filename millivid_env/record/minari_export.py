"""`millivid export-minari`: write a dataset in Minari's HDF5 format (`OUT/data/main_data.hdf5` and
`OUT/data/metadata.json`), loadable with `minari.load_dataset(OUT.name)` when MINARI_DATASETS_PATH
is OUT's parent. Episodes are renumbered 0..N-1 in episode order; unfinished ones are left out.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import gymnasium as gym
import h5py
import numpy as np
from gymnasium import spaces
from tqdm import tqdm

from millivid_env.errors import UserError
from millivid_env.record import layout

DATASET_ID = re.compile(r"(?:[\w:.-]+/)?[\w:.-]+-v\d+")
# Our per-frame paths as Minari names them: observation keys and infos.
OBS_KEYS = {layout.RGB: "pov"}
MINARI_FORMAT_VERSION = "0.5.4"  # a dataset format every Minari 0.5 reads


def _spaces(meta: dict[str, Any], group: h5py.Group) -> tuple[spaces.Space, spaces.Space, str | None]:
    """The env's own spaces when its id is registered; otherwise read off the arrays."""
    env_id = meta.get("env_id", "")
    if env_id in gym.registry:
        try:
            env = gym.make(env_id, **meta.get("recipe", {}).get("env_kwargs", {}))
            result = env.observation_space, env.action_space, env.spec.to_json() if env.spec else None
            env.close()
            return result
        except gym.error.DependencyNotInstalled:
            pass
    rgb = group[layout.RGB]
    observation = spaces.Dict({"pov": spaces.Box(0, 255, rgb.shape[1:], np.uint8)})
    actions = {}
    for path in layout.action_paths(group):
        data = group[path]
        key = path.split("/", 1)[1]
        if data.dtype.kind == "f":
            actions[key] = spaces.Box(-180.0, 180.0, data.shape[1:], np.float32)
        else:
            actions[key] = spaces.Discrete(int(data[()].max(initial=0)) + 1 if key == "action" else 2)
    action = actions["action"] if list(actions) == ["action"] else spaces.Dict(actions)
    return observation, action, None


def _copy_episode(src: h5py.Group, steps: int, dst: h5py.Group, obs_space: spaces.Space, act_space: spaces.Space) -> None:
    frames, rows = slice(0, steps + 1), slice(0, steps)
    if isinstance(obs_space, spaces.Dict):
        obs = {f"observations/{key}": next((p for p, k in OBS_KEYS.items() if k == key), layout.obs_path(key))
               for key in obs_space.spaces}
    else:
        obs = {"observations": layout.RGB if layout.RGB in src else layout.STATE}
    acts = ({f"actions/{key}": layout.action_path(key) for key in act_space.spaces} if isinstance(act_space, spaces.Dict)
            else {"actions": layout.action_path("action")})
    # Every other per-frame array (pose, depth, block ids, ...) travels as an info; latents are derived.
    infos = {f"infos/{p.split('/')[-1]}": p for p in layout.frame_paths(src)
             if p not in obs.values() and not p.startswith(layout.LATENTS)}
    for mapping, span in ((obs, frames), (acts, rows), ({k: k for k in layout.STEP_FIELDS}, rows), (infos, frames)):
        for target, source in mapping.items():
            dst.create_dataset(target, data=src[source][span], chunks=True)


def export_minari(root: Path, out: Path) -> dict[str, Any]:
    try:
        from minari.serialization import serialize_space
    except ImportError:
        raise UserError("export-minari needs Minari: pip install minari") from None
    root, out = Path(root), Path(out)
    if not DATASET_ID.fullmatch(out.name):
        raise UserError(f"{out.name!r} is not a Minari dataset id; name the folder like 'voxel-revisit-64-v0'")
    if (out / "data" / "metadata.json").exists():
        raise UserError(f"{out} already holds a Minari dataset")
    meta = layout.read_metadata(root)
    refs = [r for r in layout.episode_refs(root) if r.complete]
    if not refs:
        raise UserError(f"{root}: no complete episodes to export")
    (out / "data").mkdir(parents=True, exist_ok=True)
    with layout.open_shard(refs[0].shard) as first:
        obs_space, act_space, env_spec = _spaces(meta, first[refs[0].name])
    with h5py.File(out / "data" / "main_data.hdf5", "w") as dst:
        for i, ref in enumerate(tqdm(refs, desc="export-minari", unit="episode")):
            with layout.open_shard(ref.shard) as shard:
                group = dst.create_group(f"episode_{i}")
                group.attrs.update({"id": i, "total_steps": ref.steps, "seed": int(shard[ref.name].attrs.get("seed", -1))})
                _copy_episode(shard[ref.name], ref.steps, group, obs_space, act_space)
    metadata = {
        "dataset_id": out.name, "total_episodes": len(refs), "total_steps": sum(r.steps for r in refs),
        "data_format": "hdf5", "jpeg_encoding": False, "minari_version": MINARI_FORMAT_VERSION,
        "observation_space": serialize_space(obs_space), "action_space": serialize_space(act_space),
        "author": ["millivid-env"],
        "algorithm_name": ",".join(e["name"] for e in meta.get("recipe", {}).get("explorers", [])) or "import",
    }
    if env_spec:
        metadata["env_spec"] = env_spec
    (out / "data" / "metadata.json").write_text(json.dumps(metadata))
    return metadata
