"""Pictures of a rollout strategy's plan: which step makes each token, and what a few steps see."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from millivid_env.strategies import Step, Strategy

SHOWN_STEPS = 6


def schedule(steps: list[Step], shape: tuple[int, int]) -> np.ndarray:
    """(levels, frames) index of the step that makes each token; -1 for the given context."""
    made = np.full(shape[::-1], -1)
    for i, step in enumerate(steps):
        made[step.targets[:, 1], step.targets[:, 0]] = i
    return made


def shown_steps(steps: list[Step]) -> list[int]:
    """The first step at each level it generates, then the next ones, then the last."""
    firsts = sorted({int(s.targets[0, 1]): i for i, s in reversed(list(enumerate(steps)))}.values())
    picks = list(dict.fromkeys(firsts + list(range(len(steps)))))[:SHOWN_STEPS - 1]
    return sorted(set(picks + [len(steps) - 1]))


def draw_plan(strategy: Strategy, context: int, frames: int, out: str | Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    cfg = strategy.cfg
    steps = strategy.plan(context, frames)
    shape = (context + frames, cfg.levels)
    picks = shown_steps(steps)
    fig, axes = plt.subplots(1 + len(picks), 1, figsize=(12, 1.3 + 0.75 * (1 + len(picks))), sharex=True,
                             gridspec_kw={"height_ratios": [2] + [1] * len(picks)})
    made = np.ma.masked_less(schedule(steps, shape), 0).astype(float)
    axes[0].imshow(np.where(made.mask, 0.0, np.nan), cmap=ListedColormap(["#bbbbbb"]), aspect="auto", interpolation="nearest")
    axes[0].imshow(made, cmap="turbo", aspect="auto", interpolation="nearest")
    axes[0].set_title(f"{strategy.name}: {len(steps)} steps for {frames} frames after {context}, "
                      f"{cfg.budget} tokens a step (colour: the step that makes the token, blue first, red last; grey: given)",
                      fontsize=9)
    roles = ListedColormap(["white", "#d9d9d9", "#3b75af", "#e4572e"])
    known = np.zeros(shape, bool)
    known[:context] = True
    done = 0
    for ax, index in zip(axes[1:], picks):
        for step in steps[done:index]:
            known[step.targets[:, 0], step.targets[:, 1]] = True
        done = index
        step = steps[index]
        role = known.T.astype(int)
        role[step.context[:, 1], step.context[:, 0]] = 2
        role[step.targets[:, 1], step.targets[:, 0]] = 3
        ax.imshow(role, cmap=roles, vmin=0, vmax=3, aspect="auto", interpolation="nearest")
        ax.set_ylabel(f"step {index}", rotation=0, ha="right", va="center", fontsize=8)
    for ax in axes:
        ax.set_yticks(range(cfg.levels), [f"L{k}" for k in range(cfg.levels)], fontsize=7)
        ax.axvline(context - 0.5, color="black", lw=0.8)
    axes[-1].set_xlabel("frame (blue: context, red: generated, grey: known, unused; levels finest L0 to coarsest)")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
