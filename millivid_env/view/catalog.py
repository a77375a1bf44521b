"""What the viewer shows of a dataset: its episodes, each one's track and revisits, and its frames.

Nothing is read until it is asked for, and a frame request reads only the compressed block
(one recorded chunk) that holds it, so a 100,000-frame episode opens as fast as a short one.
Recent blocks stay decoded in a small cache: stepping and playback touch the disk once per block.
Files are opened read-only; the viewer never writes to a dataset.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from millivid_env.data.revisits import RevisitConfig, revisit_mask
from millivid_env.errors import UserError
from millivid_env.record import layout
from millivid_env.viz.maps import block_image, depth_image, top_down
from millivid_env.world import Camera, Landmark

@dataclass(frozen=True)
class WorldView:
    landmarks: tuple[Landmark, ...]
    size: tuple[int, int]  # blocks along x and z
    action_names: tuple[str, ...] | None  # the env's names for its Discrete actions
    top_down: np.ndarray  # (Z, X, 3) uint8 map (`viz.maps.top_down`)


FIELDS = {"rgb": layout.RGB, "depth": layout.DEPTH, "block_id": layout.BLOCK_ID}
CACHED_BLOCKS = 24  # decoded blocks kept: a few arrays' worth around the frames being looked at


class DatasetCatalog:
    """A dataset opened for viewing. `error` holds why it cannot be shown (missing, corrupt, empty);
    the methods then raise that error, so the page and the terminal both get the one line."""

    def __init__(self, root: str | Path, revisits: RevisitConfig = RevisitConfig()) -> None:
        self.root, self.revisits = Path(root), revisits
        self.meta: dict[str, Any] = {}
        self.refs: dict[int, layout.EpisodeRef] = {}
        self.error: str | None = None
        try:
            if not self.root.is_dir():
                raise UserError(f"{self.root}: no such dataset folder")
            self.meta = layout.read_metadata(self.root)
            self.refs = {layout.episode_index(r.name): r for r in layout.episode_refs(self.root)}
            if not self.refs:
                raise UserError(f"{self.root}: the dataset holds no episodes")
        except UserError as e:
            self.error = str(e)
        self._lock = threading.RLock()  # h5py serialises reads anyway; this keeps the caches whole
        self._world_lock = threading.Lock()
        self._files: dict[Path, Any] = {}
        self._blocks: OrderedDict[tuple[int, str, int], np.ndarray] = OrderedDict()
        self._episodes: dict[int, dict[str, Any]] = {}
        self._revisit_frames: dict[int, np.ndarray] = {}
        self._worlds: dict[tuple[str, int], WorldView | None] = {}

    def close(self) -> None:
        with self._lock:
            for f in self._files.values():
                f.close()
            self._files.clear()

    # -- episodes ------------------------------------------------------------------------------------
    def _ref(self, index: int) -> layout.EpisodeRef:
        if self.error:
            raise UserError(self.error)
        if index not in self.refs:
            raise UserError(f"{self.root}: no episode {index} (it holds {len(self.refs)}: {min(self.refs)}-{max(self.refs)})")
        return self.refs[index]

    def _group(self, ref: layout.EpisodeRef):
        if ref.shard not in self._files:
            self._files[ref.shard] = layout.open_shard(ref.shard)
        return self._files[ref.shard][ref.name]

    def episodes(self) -> list[dict[str, Any]]:
        """One row per episode: index, steps, whether it completed, its explorer and revisit count."""
        if self.error:
            raise UserError(self.error)
        rows = []
        for index, ref in self.refs.items():
            try:
                revisits = len(self._revisits(index))
            except UserError:
                revisits = None
            rows.append({"index": index, "name": ref.name, "steps": ref.steps, "complete": ref.complete,
                         "explorer": ref.explorer, "revisits": revisits})
        return rows

    def episode(self, index: int) -> dict[str, Any]:
        """Everything about an episode but its frames: fields, action names, the (x, z, yaw) track,
        the revisit frames (`data.revisits`), and the landmarks of its world where it can be rebuilt."""
        ref = self._ref(index)
        with self._lock:
            if index in self._episodes:
                return self._episodes[index]
            group = self._group(ref)
            frames = ref.steps + 1
            poses = group[layout.POSE][:frames] if layout.POSE in group else None
            first = group[layout.RGB] if layout.RGB in group else None
            entry = {"index": index, "name": ref.name, "steps": ref.steps, "frames": frames, "complete": ref.complete,
                     "explorer": ref.explorer, "fields": [k for k, p in FIELDS.items() if p in group],
                     "shape": list(first.shape[1:3]) if first is not None else None,
                     "actions": [p.removeprefix(f"{layout.ACTIONS}/") for p in layout.action_paths(group)],
                     "seed": int(group.attrs.get("seed", -1)), "env_id": str(group.attrs.get("env_id", self.meta.get("env_id", ""))),
                     "reward_total": float(group["rewards"][:ref.steps].sum()) if "rewards" in group else None}
        if poses is not None:
            entry["track"] = {"x": np.round(poses[:, 0], 2).tolist(), "z": np.round(poses[:, 2], 2).tolist(),
                              "yaw": np.round(poses[:, 3], 1).tolist()}
        else:
            entry["track"] = None
        entry["revisits"] = self._revisits(index).tolist()
        world = self.world(index)
        entry["action_names"] = list(world.action_names) if world and world.action_names else None
        entry["landmarks"] = [{"name": m.name, "kind": m.kind, "x": m.x, "z": m.z} for m in world.landmarks] if world else []
        entry["world_size"] = list(world.size) if world else None
        with self._lock:
            self._episodes[index] = entry
        return entry

    def _revisits(self, index: int) -> np.ndarray:
        """Indices of an episode's revisit frames (`data.revisits`, from its poses alone; none without poses)."""
        ref = self._ref(index)
        with self._lock:
            if index not in self._revisit_frames:
                group = self._group(ref)
                poses = group[layout.POSE][:ref.steps + 1] if layout.POSE in group else np.zeros((0, 5))
                self._revisit_frames[index] = np.flatnonzero(revisit_mask(poses, self.revisits))
            return self._revisit_frames[index]

    def world(self, index: int) -> WorldView | None:
        """What the page shows of the voxel world an episode was recorded in (rebuilt by resetting
        its env with the recorded seed); None when the env has no such world."""
        ref = self._ref(index)
        with self._lock:
            attrs = self._group(ref).attrs
            env_id, seed = str(attrs.get("env_id", self.meta.get("env_id", ""))), int(attrs.get("seed", -1))
        key = (env_id, seed)
        with self._world_lock:
            if key not in self._worlds:
                self._worlds[key] = self._rebuild_world(env_id, seed)
            return self._worlds[key]

    def _rebuild_world(self, env_id: str, seed: int) -> WorldView | None:
        if seed < 0 or not env_id.startswith("millivid/Voxel"):
            return None
        kwargs = dict(self.meta.get("recipe", {}).get("env_kwargs", {}))
        try:
            env = gym.make(env_id, **kwargs)
            env.reset(seed=seed)
        except (gym.error.Error, UserError, TypeError):
            return None
        unwrapped = env.unwrapped
        env.close()
        world = getattr(unwrapped, "world", None)
        if world is None:
            return None
        # Only the summary is kept: a whole world's blocks and skip fields are tens of MB each.
        return WorldView(world.landmarks, (int(world.blocks.shape[0]), int(world.blocks.shape[2])),
                         getattr(unwrapped, "action_names", None), top_down(world))

    # -- frames and steps ----------------------------------------------------------------------------
    def _row(self, index: int, path: str, t: int) -> np.ndarray:
        ref = self._ref(index)
        if not 0 <= t <= ref.steps:
            raise UserError(f"{ref.name} has frames 0-{ref.steps}, not {t}")
        with self._lock:
            group = self._group(ref)
            if path not in group:
                raise UserError(f"{ref.name} records no {path}")
            array = group[path]
            block = (array.chunks or (layout.BLOCK,))[0]
            key = (index, path, t // block)
            rows = self._blocks.get(key)
            if rows is None:
                try:
                    rows = array[key[2] * block:(key[2] + 1) * block]
                except OSError as e:
                    raise UserError(f"{ref.shard}: {path} of {ref.name} cannot be read ({str(e).splitlines()[0]})") from None
                self._blocks[key] = rows
                if len(self._blocks) > CACHED_BLOCKS:
                    self._blocks.popitem(last=False)
            else:
                self._blocks.move_to_end(key)
            return rows[t % block]

    def frame(self, index: int, field: str, t: int) -> np.ndarray:
        """Frame t of an episode as an RGB image: the recorded frame, or its depth or block ids in false colour."""
        if field not in FIELDS:
            raise UserError(f"unknown field {field!r}; one of {sorted(FIELDS)}")
        row = self._row(index, FIELDS[field], t)
        if field == "depth":
            return depth_image(row, Camera().view_distance)
        if field == "block_id":
            return block_image(row)
        return row

    def step(self, index: int, t: int) -> dict[str, Any]:
        """What is recorded at frame t: its pose, and the action taken from it with its reward."""
        ref = self._ref(index)
        if not 0 <= t <= ref.steps:
            raise UserError(f"{ref.name} has frames 0-{ref.steps}, not {t}")
        with self._lock:
            group = self._group(ref)
            out: dict[str, Any] = {"t": t, "pose": group[layout.POSE][t].round(3).tolist() if layout.POSE in group else None}
            if t < ref.steps:
                out["action"] = {p.removeprefix(f"{layout.ACTIONS}/"): np.asarray(group[p][t]).tolist() for p in layout.action_paths(group)}
                for name, _ in layout.STEP_COLUMNS:
                    if name in group:
                        out[name] = np.asarray(group[name][t]).item()
        return out
