"""Checkpoints: `model.safetensors` + `config.json`, and for resuming `trainer.safetensors` +
`trainer.json` (optimizer moments, step, and the raw weights where the model file holds their
moving average). Never pickle."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from millivid_env.errors import UserError


MODEL_FILE, CONFIG_FILE = "model.safetensors", "config.json"
TRAINER_FILE, TRAINER_JSON = "trainer.safetensors", "trainer.json"


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    tmp = path.with_suffix(".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    tmp.replace(path)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def save_model(folder: Path, model: torch.nn.Module, config: Any, extra: dict[str, Any] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_save(model.state_dict(), folder / MODEL_FILE)
    _atomic_write(folder / CONFIG_FILE, json.dumps({"config": dataclasses.asdict(config), **(extra or {})}, indent=2))


def weights_id(folder: Path) -> str:
    """Identifies a run's exact weights (a hash of its model file)."""
    return hashlib.sha256((Path(folder) / MODEL_FILE).read_bytes()).hexdigest()[:16]


def read_config(folder: Path) -> dict[str, Any]:
    path = Path(folder) / CONFIG_FILE
    if not path.exists():
        raise UserError(f"{folder}: no checkpoint here (missing {CONFIG_FILE})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: invalid JSON ({e.msg} at line {e.lineno})") from None


def load_weights(folder: Path, model: torch.nn.Module, fresh: str | None = None) -> None:
    """Load model.safetensors into `model`, naming every missing, unexpected or misshapen tensor.
    Tensors whose names start with `fresh` (a head added to or changed in a trained model), in the
    file or in the model, are not loaded: the model keeps its own values."""
    path = Path(folder) / MODEL_FILE
    if not path.exists():
        raise UserError(f"{folder}: no checkpoint here (missing {MODEL_FILE})")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable safetensors file ({e})") from None
    tensors = {k: v for k, v in tensors.items() if not (fresh and k.startswith(fresh))}
    expected = {k: v for k, v in model.state_dict().items() if not (fresh and k.startswith(fresh))}
    problems = [f"missing {k}" for k in expected if k not in tensors]
    problems += [f"unexpected {k}" for k in tensors if k not in expected]
    problems += [f"{k} is {tuple(tensors[k].shape)}, the model needs {tuple(v.shape)}"
                 for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise UserError(f"{path} does not fit this model: {'; '.join(problems[:3])}{more}")
    model.load_state_dict(tensors, strict=fresh is None)


def save_trainer(folder: Path, optimizer: torch.optim.Optimizer, step: int, extra: dict[str, Any],
                 weights: torch.nn.Module | None = None) -> None:
    """Optimizer tensors flattened as 'state.<param>.<name>', the raw `weights` (when the model file
    holds something else, e.g. their average) as 'weights.<name>'; scalars and hyperparameters in JSON."""
    tensors = {f"weights.{k}": v for k, v in (weights.state_dict() if weights is not None else {}).items()}
    scalars = {}
    for index, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value) and value.ndim > 0:
                tensors[f"state.{index}.{name}"] = value
            else:
                scalars[f"{index}.{name}"] = float(value)
    _atomic_save(tensors, folder / TRAINER_FILE)
    groups = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.state_dict()["param_groups"]]
    _atomic_write(folder / TRAINER_JSON, json.dumps({"step": step, "scalars": scalars, "param_groups": groups, **extra}, indent=2))


def trainer_step(folder: Path) -> int:
    """The step a run in `folder` would resume from (0 where it holds no trainer state)."""
    path = Path(folder) / TRAINER_JSON
    return int(json.loads(path.read_text())["step"]) if path.exists() else 0


def load_trainer(folder: Path, optimizer: torch.optim.Optimizer, model: torch.nn.Module | None = None) -> dict[str, Any]:
    """Restore the optimizer (and the raw weights into `model`, where they were saved); the JSON."""
    meta = json.loads((folder / TRAINER_JSON).read_text())
    tensors = load_file(str(folder / TRAINER_FILE))
    weights = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith("weights.")}
    if weights and model is not None:
        model.load_state_dict(weights)
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("state."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for key, value in meta["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = torch.tensor(value)
    current = optimizer.state_dict()
    groups = [{**g, "params": c["params"]} for g, c in zip(meta["param_groups"], current["param_groups"])]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    return meta
