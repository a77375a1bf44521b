"""The reward and termination head: what the task paid and whether it ended, read from latents.

A small MLP over a step's two latent pyramids (the frame before and the frame after the action,
normalised per feature) and the action. It learns from episodes a task env recorded
(`millivid/VoxelReach-v0`: shaping for distance closed, +1 and the end on arrival) and runs in
`millivid/Sim-v0` on the frames the world model generates. Rewards regress with L2;
terminations, rare, with a cross-entropy weighted up to balance them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from millivid_env.errors import UserError
from millivid_env.models import checkpoint
from millivid_env.record import layout
from millivid_env.sim.episodes import EncodedEpisode, read_encoded


@dataclass(frozen=True)
class RewardHeadConfig:
    features: int = 85 * 16  # one frame's latent pyramid, flattened
    actions: int = 3
    hidden: int = 256
    tokenizer_id: str = ""  # the latents it reads
    task: str = ""  # the env id whose rewards it learned


@dataclass(frozen=True)
class RewardTrainConfig:
    steps: int = 3000
    batch: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0


class RewardHead(nn.Module):
    def __init__(self, cfg: RewardHeadConfig = RewardHeadConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("mean", torch.zeros(cfg.features))
        self.register_buffer("std", torch.ones(cfg.features))
        self.register_buffer("end_weight", torch.ones(()))  # positive weight of the termination loss
        self.net = nn.Sequential(nn.Linear(2 * cfg.features + cfg.actions, cfg.hidden), nn.GELU(),
                                 nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, 2))

    def forward(self, before: torch.Tensor, after: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, tokens, C) latents before and after (B,) actions -> rewards (B,), termination logits (B,)."""
        norm = [(z.flatten(1) - self.mean) / self.std for z in (before, after)]
        out = self.net(torch.cat([*norm, F.one_hot(action, self.cfg.actions).float()], 1))
        return out[:, 0], out[:, 1]

    @torch.no_grad()
    def predict(self, before: np.ndarray, after: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rewards and terminations (bool) for numpy batches."""
        reward, logit = self(*(torch.from_numpy(np.asarray(z, np.float32)) for z in (before, after)), torch.from_numpy(action).long())
        return reward.numpy(), (logit > 0).numpy()


@dataclass
class Transitions:
    """Every step of some episodes: latents before and after, action, reward, termination."""
    before: np.ndarray
    after: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.action)


def load_transitions(root: Path, splits: tuple[str, ...], actions: int, tokenizer: str | None) -> Transitions:
    from millivid_env.data.windows import no_frames, split_episodes

    refs = [r for split in splits for r in split_episodes(root, split)]
    if not refs:
        raise no_frames(root, "/".join(splits))
    parts: list[tuple[EncodedEpisode, dict[str, np.ndarray]]] = []
    for ref in refs:
        parts.append(read_encoded(root, ref, actions, tokenizer, extra=("rewards", "terminations")))
        tokenizer = parts[-1][0].tokenizer
    return Transitions(np.concatenate([e.latents[:-1] for e, _ in parts]).astype(np.float32),
                       np.concatenate([e.latents[1:] for e, _ in parts]).astype(np.float32),
                       np.concatenate([e.frame_actions[1:] for e, _ in parts]),
                       np.concatenate([a["rewards"] for _, a in parts]).astype(np.float32),
                       np.concatenate([a["terminations"] for _, a in parts]).astype(bool))


def fit(head: RewardHead, data: Transitions, cfg: RewardTrainConfig) -> list[float]:
    """Train in place on `data`; the loss every 100 steps."""
    flat = data.before.reshape(len(data), -1)
    head.mean.copy_(torch.from_numpy(flat.mean(0)))
    head.std.copy_(torch.from_numpy(flat.std(0).clip(1e-3)))
    head.end_weight.fill_(float((~data.end).sum() / max(1, data.end.sum())))
    tensors = [torch.from_numpy(a) for a in (data.before, data.after, data.action, data.reward, data.end.astype(np.float32))]
    optimizer = torch.optim.AdamW(head.parameters(), cfg.lr, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.steps)
    generator, losses = torch.Generator().manual_seed(cfg.seed), []
    bar = tqdm(range(cfg.steps), desc="train reward head", unit="step")
    for step in bar:
        pick = torch.randint(len(data), (cfg.batch,), generator=generator)
        before, after, action, reward, end = (t[pick] for t in tensors)
        predicted, logit = head(before, after, action.long())
        loss = F.mse_loss(predicted, reward) + F.binary_cross_entropy_with_logits(logit, end, pos_weight=head.end_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 100 == 0:
            losses.append(float(loss))
            bar.set_postfix(loss=f"{float(loss):.4f}")
    return losses


def evaluate(head: RewardHead, data: Transitions) -> dict[str, Any]:
    """Held-out figures beside the references a head must beat: the mean reward, and "never ends"."""
    reward, end = head.predict(data.before, data.after, data.action)
    mean_error = float(np.mean((data.reward - data.reward.mean()) ** 2))
    hits = int((end & data.end).sum())
    precision = hits / max(1, int(end.sum()))
    recall = hits / max(1, int(data.end.sum()))
    arrival = data.reward >= 0.5
    return {
        "steps": len(data), "terminations": int(data.end.sum()),
        "reward_mse": float(np.mean((reward - data.reward) ** 2)), "reward_mse_of_the_mean": mean_error,
        "reward_r2": 1 - float(np.mean((reward - data.reward) ** 2)) / max(mean_error, 1e-12),
        "arrival_reward_mae": float(np.abs(reward[arrival] - data.reward[arrival]).mean()) if arrival.any() else None,
        "termination_accuracy": float((end == data.end).mean()), "never_ends_accuracy": float((~data.end).mean()),
        "termination_precision": precision, "termination_recall": recall,
        "termination_f1": 2 * precision * recall / max(precision + recall, 1e-12),
    }


def save_head(folder: Path, head: RewardHead, extra: dict[str, Any]) -> None:
    checkpoint.save_model(folder, head, head.cfg, extra)


def load_head(folder: str | Path, tokenizer_id: str) -> RewardHead:
    folder = Path(folder)
    config = checkpoint.read_config(folder)
    cfg = RewardHeadConfig(**config["config"])
    if cfg.tokenizer_id != tokenizer_id:
        raise UserError(f"{folder}: this reward head reads latents of tokenizer {cfg.tokenizer_id}, the simulator's is {tokenizer_id}")
    head = RewardHead(cfg)
    checkpoint.load_weights(folder, head)
    return head.eval()


def task_of(root: Path) -> str:
    return str(layout.read_metadata(root).get("env_id", ""))
