"""Rollouts found in the folders `millivid rollout` and `millivid bench revisit` write."""
import json

import numpy as np
import pytest

from millivid_env.errors import UserError
from millivid_env.view.rollouts import find_rollouts
from tests.view.conftest import write_rollout


def bench_report(folder, context=8, frames=6):
    (folder / "episodes").mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"config": {"context": context, "frames": frames},
                                                     "strategies": {"run-a": "millivid", "run-b": "flat"}}))
    for model, value in (("run-a", 10), ("run-b", 90)):
        np.savez_compressed(folder / "episodes" / f"episode_2.{model}.npz", frames=np.full((frames, 16, 16, 3), value, np.uint8))
        (folder / "episodes" / f"episode_2.{model}.json").write_text(json.dumps({"scores": {"psnr": [12.0] * frames,
                                                                                       "landmark_iou": [float("nan")] * frames}}))
    # reference lines are scored but keep no frames: nothing to show
    (folder / "episodes" / "episode_2.copy.json").write_text(json.dumps({"scores": {"psnr": [1.0] * frames}}))
    return folder


def test_both_layouts_found_one_level_down(tmp_path):
    write_rollout(tmp_path / "all" / "rollout", episode=1, context=8, frames=16, psnr_nan_at=3)
    bench_report(tmp_path / "all" / "report")
    rollouts, problems = find_rollouts([tmp_path / "all"])
    assert problems == []
    by_label = {r.label: r for r in rollouts}
    assert set(by_label) == {"sim-x (millivid)", "run-a (millivid)", "run-b (flat)"}
    single = by_label["sim-x (millivid)"]
    assert (single.episode, single.first, single.count) == (1, 8, 16)
    assert single.scores["psnr"][3] is None and single.scores["psnr"][4] == 24.0
    assert single.frame(8)[0, 0, 0] == 40 and single.frame(23)[0, 0, 0] == 200
    assert by_label["run-b (flat)"].frame(10)[0, 0, 0] == 90 and by_label["run-a (millivid)"].episode == 2
    assert by_label["run-a (millivid)"].summary()["scores"]["landmark_iou"] == [None] * 6
    assert len({r.key for r in rollouts}) == 3
    with pytest.raises(UserError, match="covers frames 8-23"):
        single.frame(24)


def test_unreadable_folders_are_reported_not_fatal(tmp_path):
    write_rollout(tmp_path / "good", episode=0, context=4, frames=4)
    (tmp_path / "empty").mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "rollout.json").write_text("{not json")
    rollouts, problems = find_rollouts([tmp_path / "good", tmp_path / "empty", bad, tmp_path / "missing"])
    assert len(rollouts) == 1
    assert len(problems) == 3 and all("\n" not in p for p in problems)
    assert "no rollouts" in problems[0] and "unreadable" in problems[1] and "no such rollout folder" in problems[2]
    torn = write_rollout(tmp_path / "torn", episode=0, context=4, frames=4)
    (torn / "rollout.npz").write_bytes(b"truncated")
    rollouts, problems = find_rollouts([torn])
    with pytest.raises(UserError, match="cannot read the generated frames"):
        rollouts[0].frame(4)
