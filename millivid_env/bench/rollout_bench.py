"""`millivid bench rollout`: what a trained simulator's rollouts are worth on held-out episodes.

- quality against the number of sampler steps (same episodes, same seeds), beside repeating the
  last context frame, with bootstrap 95% intervals over episodes;
- drift: PSNR along longer rollouts for a few context noise levels at sampling;
- action conditioning: from one context, a rollout under each macro action held, compared with the
  voxel world's own frames for every action (the world reset at the recorded pose and stepped);
- cost: tokens per step and seconds per frame against the length of the past, for the run's
  strategy and for a flat model that sees that whole past.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from millivid_env.bench.timing import machine
from millivid_env.data.windows import split_episodes
from millivid_env.envs.actions import MACRO_ACTIONS
from millivid_env.errors import UserError
from millivid_env.metrics.bootstrap import bootstrap_ci
from millivid_env.metrics.psnr import psnr
from millivid_env.models.sampler import SamplerConfig, sample
from millivid_env.models.tokenizer_training import to_images
from millivid_env.record import layout
from millivid_env.sim.episodes import read_encoded
from millivid_env.sim.rollout import decode, rollout
from millivid_env.sim.tokens import arrange, collate
from millivid_env.sim.world_model import WorldModel, load_world_model
from millivid_env.strategies import Step, make_strategy
from millivid_env.strategies.base import pairs


@dataclass(frozen=True)
class RolloutBenchConfig:
    episodes: int = 8  # held-out episodes, each a bootstrap unit
    context: int = 64  # true frames before generation
    frames: int = 16  # generated frames scored for quality and copying
    sampler_steps: tuple[int, ...] = (1, 2, 3, 5, 10)  # sampler iterations compared
    other_strategies: tuple[str, ...] = ("causal",)  # the same weights rolled out with these too, default sampler
    long: int = 64  # generated frames of the drift rollouts
    context_sigmas: tuple[float, ...] = (0.0, 0.1, 0.3)  # context noise at sampling, compared on the long rollouts
    action_frames: int = 8  # frames each macro action is held in the action test
    horizons: tuple[int, ...] = (16, 32, 64, 128, 256)  # past lengths the cost is timed at
    seed: int = 0


def frame_psnr(generated: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """PSNR per frame of uint8 (..., H, W, 3) arrays, same leading shape out."""
    value = psnr(to_images(torch.from_numpy(generated)), to_images(torch.from_numpy(truth)))
    return value.numpy().reshape(generated.shape[:-3])


def held_out(model: WorldModel, data: Path, count: int, frames: int) -> list[tuple[Any, dict[str, np.ndarray]]]:
    refs = [r for r in split_episodes(data, "all") if r.steps + 1 >= frames][:count]
    if not refs:
        raise UserError(f"{data}: no complete episode of {frames} frames")
    return [read_encoded(data, r, model.cfg.codec, model.cfg.tokenizer_id, extra=(layout.RGB, layout.POSE)) for r in refs]


def generate(model: WorldModel, episodes, context: int, actions: np.ndarray, sampler: SamplerConfig, seed: int) -> tuple[np.ndarray, float]:
    """Decoded frames after `context` for every episode under (B, total) frame actions; seconds per frame."""
    latents = np.stack([e.latents[:context] for e, _ in episodes]).astype(np.float32)
    out = rollout(model, latents, actions, sampler, seed)
    return decode(model, out.latents[:, context:]), out.seconds / (actions.shape[1] - context)


def quality_vs_steps(model, episodes, cfg: RolloutBenchConfig) -> dict[str, Any]:
    total = cfg.context + cfg.frames
    actions = np.stack([e.frame_actions[:total] for e, _ in episodes])
    truth = np.stack([a[layout.RGB][cfg.context:total] for _, a in episodes])
    copy = np.repeat(np.stack([a[layout.RGB][cfg.context - 1] for _, a in episodes])[:, None], cfg.frames, 1)
    copy_psnr = frame_psnr(copy, truth).mean(1)

    def scored(model: WorldModel, sampler: SamplerConfig) -> dict[str, Any]:
        frames, seconds = generate(model, episodes, cfg.context, actions, sampler, cfg.seed)
        per_episode = frame_psnr(frames, truth).mean(1)
        return {"psnr": bootstrap_ci(per_episode), "seconds_per_frame": seconds / len(episodes),
                "minus_copy": bootstrap_ci(per_episode - copy_psnr)}

    rows = [{"sampler_steps": steps, **scored(model, SamplerConfig(steps=steps))} for steps in cfg.sampler_steps]
    by_strategy = [{"strategy": name, **scored(model.with_strategy(name), SamplerConfig())} for name in cfg.other_strategies]
    return {"frames": cfg.frames, "copy_last_context_frame": bootstrap_ci(copy_psnr), "by_steps": rows, "by_strategy": by_strategy}


def drift(model, episodes, cfg: RolloutBenchConfig) -> dict[str, Any]:
    total = cfg.context + cfg.long
    actions = np.stack([e.frame_actions[:total] for e, _ in episodes])
    truth = np.stack([a[layout.RGB][cfg.context:total] for _, a in episodes])
    bins = [(0, 16), (16, 32), (32, cfg.long)]
    rows = []
    for sigma in cfg.context_sigmas:
        frames, _ = generate(model, episodes, cfg.context, actions, SamplerConfig(context_sigma=sigma), cfg.seed)
        scores = frame_psnr(frames, truth)
        rows.append({"context_sigma": sigma, "psnr_by_frame": scores.mean(0).round(3).tolist(),
                     **{f"psnr_{a + 1}-{b}": bootstrap_ci(scores[:, a:b].mean(1)) for a, b in bins if a < cfg.long}})
    return {"frames": cfg.long, "by_context_sigma": rows}


def episode_seed(ref: layout.EpisodeRef) -> int:
    with layout.open_shard(ref.shard) as f:
        return int(f[ref.name].attrs["seed"])


def world_frames(data: Path, seed: int, pose: np.ndarray, action: int, count: int) -> np.ndarray:
    """The recording env's frames after holding macro `action` `count` times from `pose`."""
    import gymnasium as gym

    meta = layout.read_metadata(data)
    env = gym.make(meta["env_id"], **meta.get("recipe", {}).get("env_kwargs", {}), disable_env_checker=True)
    env.reset(seed=seed, options={"pose": pose})
    frames = [env.step(action)[0]["pov"] for _ in range(count)]
    env.close()
    return np.stack(frames)


def action_conditioning(model, episodes, cfg: RolloutBenchConfig, data: Path) -> dict[str, Any]:
    """Rollouts under each macro action held, scored against the world's frames under every action,
    for the run's strategy and then `cfg.other_strategies` (same weights)."""
    n = len(MACRO_ACTIONS)
    truths = [[world_frames(data, episode_seed(e.ref), arrays[layout.POSE][cfg.context - 1], b, cfg.action_frames) for b in range(n)]
              for e, arrays in episodes]
    rows = []
    for name in (model.cfg.strategy, *cfg.other_strategies):
        score = np.zeros((len(episodes), n, n))
        for a in range(n):
            actions = np.stack([np.concatenate([e.frame_actions[:cfg.context], np.full(cfg.action_frames, a)]) for e, _ in episodes])
            generated, _ = generate(model.with_strategy(name), episodes, cfg.context, actions, SamplerConfig(), cfg.seed)
            for i in range(len(episodes)):
                for b in range(n):
                    score[i, a, b] = frame_psnr(generated[i], truths[i][b]).mean()
        correct = score.argmax(2) == np.arange(n)
        rows.append({"strategy": name, "correct": float(correct.mean()), "cases": int(correct.size),
                     "psnr_generated_vs_world": score.mean(0).round(2).tolist()})
    return {"frames": cfg.action_frames, "actions": list(MACRO_ACTIONS), **rows[0], "by_strategy": rows[1:]}


def whole_past_step(past: int, new: int, levels: int) -> Step:
    """A flat step that sees every past frame at every level."""
    every = range(levels)
    return Step(np.concatenate([pairs(range(past), k) for k in every]), np.concatenate([pairs(range(past, past + new), k) for k in every]))


@torch.no_grad()
def cost(model: WorldModel, cfg: RolloutBenchConfig) -> dict[str, Any]:
    """Tokens per step and seconds per frame against the past's length: the run's strategy vs a flat
    model whose every step sees that whole past at every level (random latents: cost only)."""
    pyramid, sampler, new = model.pyramid, SamplerConfig(), 32
    flat_new = make_strategy("flat", model.cfg.strategy_config()).plan(1, 1024)[1].targets[:, 0]
    flat_new = len(np.unique(flat_new))
    rows = []
    for horizon in cfg.horizons:
        row = {"past_frames": horizon}
        plans = {"strategy": (model.strategy.plan(horizon, new), new),
                 "flat_whole_past": ([whole_past_step(horizon, flat_new, len(pyramid.tokens))], flat_new)}
        for name, (steps, made) in plans.items():
            latents = np.random.default_rng(0).normal(size=(horizon + new, pyramid.total, model.cfg.channels))
            acts = np.zeros(len(latents), np.int64)
            started, tokens = time.perf_counter(), []
            for step in steps:
                t = collate([arrange(pyramid, latents, acts, step)]).to(model.device)
                split = int((~t.target[0]).sum())
                sample(model.denoiser, t.take(slice(0, split)), t.take(slice(split, None)), sampler)
                tokens.append(len(t))
            row[name] = {"tokens_per_step": int(max(tokens)), "seconds_per_frame": (time.perf_counter() - started) / made}
        rows.append(row)
    return {"sampler_steps": sampler.steps, "rows": rows}


def run_rollout_bench(sim: Path, data: Path, cfg: RolloutBenchConfig = RolloutBenchConfig()) -> dict[str, Any]:
    torch.set_flush_denormal(True)
    model = load_world_model(sim)
    episodes = held_out(model, data, cfg.episodes, cfg.context + max(cfg.frames, cfg.long))
    started = time.perf_counter()
    result = {"sim": str(sim), "data": str(data), "strategy": model.cfg.strategy, "config": dataclasses.asdict(cfg),
              "machine": machine(), "date": time.strftime("%Y-%m-%d")}
    phases = {"quality": lambda: quality_vs_steps(model, episodes, cfg), "drift": lambda: drift(model, episodes, cfg),
              "action_conditioning": lambda: action_conditioning(model, episodes, cfg, data), "cost": lambda: cost(model, cfg)}
    for name, measure in tqdm(phases.items(), desc="bench rollout", unit="phase"):
        result[name] = measure()
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def plot_rollout_bench(result: dict[str, Any], out: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    quality = result["quality"]
    steps = [r["sampler_steps"] for r in quality["by_steps"]]
    means = [r["psnr"]["mean"] for r in quality["by_steps"]]
    axes[0].errorbar(steps, means, yerr=[[m - r["psnr"]["lo"] for m, r in zip(means, quality["by_steps"])],
                                         [r["psnr"]["hi"] - m for m, r in zip(means, quality["by_steps"])]], marker="o", label="generated")
    copy = quality["copy_last_context_frame"]
    axes[0].axhspan(copy["lo"], copy["hi"], color="grey", alpha=0.3, label="repeat last context frame")
    for row in quality.get("by_strategy", []):
        axes[0].errorbar([3], [row["psnr"]["mean"]], yerr=[[row["psnr"]["mean"] - row["psnr"]["lo"]], [row["psnr"]["hi"] - row["psnr"]["mean"]]],
                         marker="s", capsize=3, label=f"{row['strategy']} strategy, 3 steps")
    axes[0].set(xscale="log", xlabel="sampler steps", ylabel=f"PSNR, first {quality['frames']} frames (dB)",
                title="quality against sampler steps (95% CI over episodes)")
    axes[0].legend(fontsize=8)
    for row in result["drift"]["by_context_sigma"]:
        axes[1].plot(np.arange(1, len(row["psnr_by_frame"]) + 1), row["psnr_by_frame"], label=f"context sigma {row['context_sigma']}")
    axes[1].set(xlabel="generated frame", ylabel="PSNR (dB, mean over episodes)", title="drift along the rollout")
    axes[1].legend(fontsize=8)
    rows = result["cost"]["rows"]
    past = [r["past_frames"] for r in rows]
    for name, style in (("strategy", "o-"), ("flat_whole_past", "s--")):
        label = result["strategy"] if name == "strategy" else "flat, whole past"
        axes[2].plot(past, [r[name]["tokens_per_step"] for r in rows], style, label=f"{label}: tokens per step")
    twin = axes[2].twinx()
    for name, style in (("strategy", "o:"), ("flat_whole_past", "s:")):
        twin.plot(past, [r[name]["seconds_per_frame"] for r in rows], style, color="tab:red", alpha=0.6)
    twin.set_ylabel("seconds per frame (red, dotted)")
    axes[2].set(xscale="log", yscale="log", xlabel="past frames", ylabel="tokens per step", title="cost against the past's length")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
