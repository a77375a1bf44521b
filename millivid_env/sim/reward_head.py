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

from millivid_env.envs.action_codec import ActionCodec, factor_rows
from millivid_env.errors import UserError
from millivid_env.models import checkpoint
from millivid_env.record import layout
from millivid_env.sim.episodes import EncodedEpisode, read_encoded


@dataclass(frozen=True)
class RewardHeadConfig:
    features: int = 85 * 16  # one frame's latent pyramid, flattened
    actions: int = 3  # action ids (`envs.action_codec`)
    action_codec: str = "discrete"
    hidden: int = 256
    tokenizer_id: str = ""  # the latents it reads
    task: str = ""  # the env id whose rewards it learned

    @property
    def codec(self) -> ActionCodec:
        return ActionCodec(self.action_codec, self.actions)


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
        self.factors = cfg.codec.factors
        self.net = nn.Sequential(nn.Linear(2 * cfg.features + sum(self.factors), cfg.hidden), nn.GELU(),
                                 nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, 2))

    def forward(self, before: torch.Tensor, after: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, tokens, C) latents before and after (B,) actions -> rewards (B,), termination logits (B,)."""
        norm = [(z.flatten(1) - self.mean) / self.std for z in (before, after)]
        digits = F.one_hot(factor_rows(action, self.factors), sum(self.factors)).sum(1).float()
        out = self.net(torch.cat([*norm, digits], 1))
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


Recorded = list[tuple[EncodedEpisode, dict[str, np.ndarray]]]  # episodes with their rewards and terminations


def load_recorded(root: Path, splits: tuple[str, ...], codec: ActionCodec, tokenizer: str | None) -> Recorded:
    from millivid_env.data.windows import no_frames, split_episodes

    refs = [r for split in splits for r in split_episodes(root, split)]
    if not refs:
        raise no_frames(root, "/".join(splits))
    parts: Recorded = []
    for ref in refs:
        parts.append(read_encoded(root, ref, codec, tokenizer, extra=("rewards", "terminations")))
        tokenizer = parts[-1][0].tokenizer
    return parts


def recorded_transitions(parts: Recorded, context: int = 1) -> Transitions:
    """The recorded steps into each episode's frames from `context` on (all of them at 1)."""
    return Transitions(np.concatenate([e.latents[context - 1:-1] for e, _ in parts]).astype(np.float32),
                       np.concatenate([e.latents[context:] for e, _ in parts]).astype(np.float32),
                       np.concatenate([e.frame_actions[context:] for e, _ in parts]),
                       np.concatenate([a["rewards"][context - 1:] for _, a in parts]).astype(np.float32),
                       np.concatenate([a["terminations"][context - 1:] for _, a in parts]).astype(bool))


def generated_transitions(sim: Any, parts: Recorded, context: int, seed: int = 0) -> Transitions:
    """`recorded_transitions(parts, context)` with the latents a simulation (a
    `sim.simulation.Simulation`) generates from each episode's first `context` frames under the
    recorded actions in place of the recorded ones: what the head sees inside `millivid/Sim-v0`."""
    if not parts:
        raise UserError(f"no held-out episode is longer than {context} frames to generate after; lower the context")
    before, after, actions, rewards, ends = [], [], [], [], []
    for index, (episode, arrays) in enumerate(tqdm(parts, desc="generate held-out steps", unit="episode")):
        ids = episode.frame_actions
        if len(ids) <= context:
            raise UserError(f"{episode.name} has {len(ids)} frames, no more than the {context} context frames")
        sim.start([(episode.latents[:context].astype(np.float32), ids[1:context])], seed=seed + index)
        last = episode.latents[context - 1].astype(np.float32)
        for t in range(context, len(ids)):
            latents = sim.step(ids[t:t + 1])[0][0]
            before.append(last)
            after.append(latents)
            last = latents
        actions.append(ids[context:])
        rewards.append(arrays["rewards"][context - 1:])
        ends.append(arrays["terminations"][context - 1:])
    return Transitions(np.stack(before), np.stack(after), np.concatenate(actions),
                       np.concatenate(rewards).astype(np.float32), np.concatenate(ends).astype(bool))


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
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
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


def load_head(folder: str | Path, tokenizer_id: str, codec: ActionCodec = ActionCodec()) -> RewardHead:
    folder = Path(folder)
    config = checkpoint.read_config(folder)
    cfg = RewardHeadConfig(**config["config"])
    if cfg.tokenizer_id != tokenizer_id:
        raise UserError(f"{folder}: this reward head reads latents of tokenizer {cfg.tokenizer_id}, the simulator's is {tokenizer_id}")
    if cfg.codec != codec:
        raise UserError(f"{folder}: this reward head reads {cfg.action_codec} actions ({cfg.actions} ids), "
                        f"the simulator's are {codec.kind} ({codec.n} ids)")
    head = RewardHead(cfg)
    checkpoint.load_weights(folder, head)
    return head.eval()


def task_of(root: Path) -> str:
    return str(layout.read_metadata(root).get("env_id", ""))
