import numpy as np
import pytest

from millivid_env.errors import UserError
from millivid_env.strategies import PRESETS, STRATEGIES, StrategyConfig, make_strategy

CONFIGS = [*PRESETS.values(), StrategyConfig(tokens=(16, 4, 1), windows=(2, 6, 18), extra=10, new_frames=2),
           StrategyConfig(tokens=(4, 1), windows=(1, 5), extra=0, new_frames=1)]
ROLLOUTS = [(1, 1), (1, 40), (5, 7), (64, 192), (256, 300)]


def replay(strategy, context, frames):
    """Check every step against what is known when it runs; returns how often each token was made."""
    cfg = strategy.cfg
    known = np.zeros((context + frames, cfg.levels), bool)
    known[:context] = True
    made = np.zeros(known.shape, int)
    for step in strategy.plan(context, frames):
        assert step.tokens(cfg.tokens) <= cfg.budget
        assert len(step.targets)
        assert known[step.context[:, 0], step.context[:, 1]].all(), "context on a token that does not exist yet"
        assert not known[step.targets[:, 0], step.targets[:, 1]].any()
        assert len(np.unique(step.context, axis=0)) == len(step.context)
        a = step.targets[:, 0].min()
        by_level = {k: step.context[step.context[:, 1] == k, 0] for k in range(cfg.levels)}
        # fine near past: the finest context is the newest frames before the targets
        if a > 0 and len(by_level[0]):
            assert by_level[0].max() == a - 1
        for k, frames_k in by_level.items():
            if len(frames_k):
                assert np.all(np.diff(np.sort(frames_k)) == 1), "a level's context is one unbroken window"
            # coarse far past: each coarser level reaches at least as far back as the finer ones
            finer = [by_level[j].min() for j in range(k) if len(by_level[j])]
            if len(frames_k) and finer:
                assert frames_k.min() <= min(finer)
        made[step.targets[:, 0], step.targets[:, 1]] += 1
        known[step.targets[:, 0], step.targets[:, 1]] = True
    return made


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.tokens}-{c.windows}-{c.extra}")
@pytest.mark.parametrize("context,frames", ROLLOUTS)
def test_plan_properties(name, cfg, context, frames):
    if name == "framepack" and cfg.new_frames * cfg.frame_tokens > cfg.budget:
        pytest.skip("budget below FramePack's new frames")
    made = replay(make_strategy(name, cfg), context, frames)
    assert (made[:context] == 0).all()
    assert (made[context:] == 1).all(), "every new frame at every level exactly once"


def test_millivid_chunk_takes_the_papers_steps_at_a_constant_budget():
    for cfg in (PRESETS["paper"], PRESETS["full"]):
        plan = make_strategy("millivid", cfg).plan(256, 768)
        assert len(plan) == 4 * 85
        assert {s.tokens(cfg.tokens) for s in plan} == {cfg.budget}
        first = plan[0]
        assert first.targets[:, 1].tolist() == [3] * 192 and first.targets[0, 0] == 256
        assert first.context[first.context[:, 1] == 3, 0].min() == 256 - cfg.extra // cfg.tokens[3]


def test_millivid_refines_under_the_coarse_tokens_around_the_targets():
    cfg = PRESETS["full"]
    plan = make_strategy("millivid", cfg).plan(256, 192)
    assert [s.targets[0, 1] for s in plan[:5]] == [3, 2, 1, 0, 0]
    fine = plan[3]  # frames 256-258 at the finest level
    coarse = fine.context[fine.context[:, 1] == 3, 0]
    assert coarse.min() < 256 < 258 < coarse.max(), "coarse past and planned coarse future both seen"


def test_flat_and_causal_shapes():
    cfg = PRESETS["full"]
    flat = make_strategy("flat", cfg).plan(64, 10)[0]
    assert len(flat.targets) == 5 * cfg.levels and len(np.unique(flat.context[:, 0])) == 6
    causal = make_strategy("causal", cfg).plan(300, 3)
    assert all(len(s.targets) == cfg.levels and len(np.unique(s.targets[:, 0])) == 1 for s in causal)
    assert {s.tokens(cfg.tokens) for s in causal} == {cfg.budget}


def test_framepack_compresses_older_frames():
    cfg = PRESETS["full"]
    step = make_strategy("framepack", cfg).plan(400, 3)[0]
    levels_per_frame = {f: sorted(step.context[step.context[:, 0] == f, 1]) for f in np.unique(step.context[:, 0])}
    newest, oldest = max(levels_per_frame), min(levels_per_frame)
    assert levels_per_frame[newest] == [0, 1, 2, 3] and levels_per_frame[oldest] == [3]
    counts = [len(v) for _, v in sorted(levels_per_frame.items())]
    assert counts == sorted(counts), "the older the frame, the fewer its levels"


def test_bad_inputs():
    with pytest.raises(UserError, match="unknown strategy"):
        make_strategy("nope")
    with pytest.raises(UserError, match="one window per level"):
        StrategyConfig(tokens=(4, 1), windows=(1,))
    with pytest.raises(UserError, match="more than the budget"):
        make_strategy("framepack", StrategyConfig(tokens=(4, 1), windows=(1, 1), extra=0, new_frames=2)).plan(4, 4)
    with pytest.raises(UserError, match=">= 1 context"):
        make_strategy("millivid").plan(0, 4)
    known = np.zeros((10, 4), bool)
    known[:5, 0] = True  # finest known where the coarser levels are not
    with pytest.raises(ValueError, match="prefixes"):
        make_strategy("millivid").next_step(known)
