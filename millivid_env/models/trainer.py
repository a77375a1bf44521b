"""One training loop for every trainable model: tqdm, periodic validation, checkpoints, resume,
DDP under torchrun (gloo on CPU, nccl on GPU), bf16 autocast on GPU only (it is slower on CPU),
and an exponential moving average of the weights, which is what gets validated and saved."""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from millivid_env.errors import UserError
from millivid_env.models import checkpoint

POSTFIX_EVERY = 25  # steps between loss read-outs on the bar (each .item() syncs a GPU)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 20_000  # optimizer steps in all
    lr: float = 1e-3  # AdamW's peak learning rate
    final_lr: float = 0.1  # fraction of lr the cosine decay ends at
    warmup: int = 500  # steps of linear warm-up
    weight_decay: float = 0.01  # AdamW's decoupled weight decay
    grad_clip: float = 1.0  # gradients are scaled down to at most this norm
    eval_every: int = 1000  # steps between validations
    save_every: int = 500  # steps between checkpoints (and at every validation)
    seed: int = 0  # of the model's initialisation and the batch order (each DDP rank adds its rank)
    ema: float = 0.999  # decay of the weight average that is validated and saved (0: the raw weights)

    def __post_init__(self) -> None:
        counts = {"steps": self.steps, "eval_every": self.eval_every, "save_every": self.save_every}
        bad = [f"{k} must be >= 1, got {v}" for k, v in counts.items() if v < 1]
        bad += [f"warmup must be >= 0, got {self.warmup}"] if self.warmup < 0 else []
        bad += [f"grad_clip must be > 0, got {self.grad_clip}"] if not self.grad_clip > 0 else []
        bad += [f"final_lr is a fraction of lr in [0, 1], got {self.final_lr}"] if not 0 <= self.final_lr <= 1 else []
        bad += [f"ema is a decay in [0, 1), got {self.ema}"] if not 0 <= self.ema < 1 else []
        bad += [f"{k} must be >= 0, got {v}" for k, v in (("lr", self.lr), ("weight_decay", self.weight_decay)) if not v >= 0]
        if bad:
            raise UserError("; ".join(bad))


def ema_update(decay: float) -> Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor | int], None]:
    """Exponential moving average with a warm-up: after n updates the decay is
    min(decay, (1 + n) / (10 + n)), so a short run's average follows its recent weights instead of
    staying near the initial ones (0.999 is reached after ~9,000 steps)."""
    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n: torch.Tensor | int) -> None:
        if not torch.is_floating_point(averaged[0]):  # counters (one dtype per call) are taken as they are
            torch._foreach_copy_(averaged, current)
            return
        n = float(n)
        torch._foreach_lerp_(averaged, current, 1 - min(decay, (1 + n) / (10 + n)))
    return update


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Distributed:
    """Join the torchrun group when launched by torchrun; plain single-process otherwise."""
    if "RANK" not in os.environ:
        return Distributed(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    else:  # share the machine's cores between the processes
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    return Distributed(rank, world, device)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to `final_lr` x lr."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (cfg.final_lr + (1 - cfg.final_lr) * 0.5 * (1 + math.cos(progress * math.pi)))


def training_step(net: torch.nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable, batch: Any,
                  lr: float, grad_clip: float, autocast: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One optimizer step on `batch` at learning rate `lr`: forward and loss under `autocast`,
    backward, gradient clipping, update. Returns the loss and its logs, not yet read."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    with autocast:
        loss, logs = loss_fn(net, batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], grad_clip)
    optimizer.step()
    return loss, logs


def autocast_for(device: torch.device) -> Any:
    """bf16 autocast on a GPU; none on the CPU, where bf16 is several times slower."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)


def train(
    model: torch.nn.Module,
    model_config: Any,
    batches: Iterator[torch.Tensor],
    loss_fn: Callable[[torch.nn.Module, Any], tuple[torch.Tensor, dict[str, torch.Tensor]]],
    out: Path,
    cfg: TrainConfig,
    evaluate: Callable[[torch.nn.Module], dict[str, float]] | None = None,
    resume: bool = False,
    card: dict[str, Any] | None = None,
    ddp: Distributed | None = None,
) -> dict[str, Any]:
    """Train `model` for cfg.steps; checkpoints (and validation figures) land in `out`.

    `loss_fn(net, batch)` returns the loss and a dict of detached scalar tensors to log; they are
    read (a device sync each) only every POSTFIX_EVERY steps."""
    ddp = ddp or Distributed()
    out = Path(out)
    model.to(ddp.device)
    # Frozen parameters (train-tokenizer --freeze-tokenizer) get no optimizer state and no decay.
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, history = 0, []
    resuming = resume and (out / checkpoint.TRAINER_JSON).exists()
    if resuming:
        checkpoint.load_weights(out, model)  # the published (averaged) weights
    elif (out / checkpoint.MODEL_FILE).exists() and not resume:
        raise UserError(f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out")
    # The average starts as a copy of the published weights; the trainer file then restores the raw ones.
    ema = AveragedModel(model, multi_avg_fn=ema_update(cfg.ema), use_buffers=True) if cfg.ema and ddp.main else None
    if resuming:
        meta = checkpoint.load_trainer(out, optimizer, model)
        step, history = meta["step"], meta.get("history", [])
        if ema is not None:
            ema.n_averaged.fill_(step)
    published = ema.module if ema is not None else model
    net = torch.nn.parallel.DistributedDataParallel(model) if ddp.world > 1 else model
    autocast = autocast_for(ddp.device)

    def save() -> None:
        if ddp.main:
            checkpoint.save_model(out, published, model_config, {"step": step, "card": card or {}, "history": history[-20:]})
            checkpoint.save_trainer(out, optimizer, step, {"history": history}, weights=model if ema is not None else None)

    def validate() -> dict[str, float]:
        """Figures of the published weights, and of the raw ones beside them when averaging."""
        models = {"": published, **({"raw_": model} if ema is not None else {})}
        figures = {}
        for prefix, m in models.items():
            m.eval()
            with torch.no_grad():
                figures.update({prefix + k: v for k, v in evaluate(m).items()})
            m.train()
        return figures

    bar = tqdm(total=cfg.steps, initial=step, desc=f"train {out.name}", unit="step", disable=not ddp.main, mininterval=2)
    started = time.perf_counter()
    while step < cfg.steps:
        loss, logs = training_step(net, optimizer, loss_fn, next(batches), lr_at(step, cfg), cfg.grad_clip, autocast)
        if ema is not None:
            ema.update_parameters(model)
        step += 1
        bar.update(1)
        if step % POSTFIX_EVERY == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}", **{k: f"{float(v):.3g}" for k, v in logs.items()}, refresh=False)
        if evaluate and ddp.main and (step % cfg.eval_every == 0 or step == cfg.steps):
            history.append({"step": step, "seconds": round(time.perf_counter() - started, 1), **validate()})
            bar.write(json.dumps(history[-1]))
        if step % cfg.save_every == 0 or step == cfg.steps:
            save()
    bar.close()
    return {"step": step, "history": history}
