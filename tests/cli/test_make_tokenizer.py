"""`make tokenizer` claims to retrain the shipped default: its commands, run at toy sizes, must
chain through all four stages and end at exactly the shipped checkpoint's config."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "checkpoints" / "tokenizer-64" / "config.json"


def toy_commands(tmp: Path) -> list[str]:
    dry = subprocess.run(["make", "-n", "tokenizer", f"TRAIN_SET={tmp / 'train'}", f"HELD_OUT={tmp / 'held'}",
                          f"REPRO={tmp / 'repro'}"], cwd=ROOT, capture_output=True, text=True, check=True)
    joined = dry.stdout.replace("\\\n", " ")
    commands = [line for line in joined.splitlines() if "/millivid " in line]
    toy = []
    for command in commands:
        command = re.sub(r"\S*/millivid ", f"{sys.executable} -m millivid_env.cli.main ", command)
        command = re.sub(r"--steps \d+", "--steps 2", command)
        command = re.sub(r"--eval-every \d+", "--eval-every 1", command)
        command = re.sub(r"--episodes \d+ --frames \d+", "", command)
        if " collect " in command:
            command += " --episodes 2 --frames 40"
        toy.append(command)
    return toy


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_tokenizer_chains_four_stages_to_the_shipped_config(tmp_path):
    commands = toy_commands(tmp_path)
    assert sum(" train-tokenizer " in c for c in commands) == 4 and " bench tokenizer " in commands[-1]
    printed = []
    for command in commands:
        result = subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{command}\n{result.stderr[-2000:]}"
        printed.append(result.stdout)
    stages = sorted((tmp_path / "repro").glob("*/config.json"))
    assert [p.parent.name for p in stages] == ["1-base", "2-palette", "3-head", "4-joint"]
    final = json.loads(stages[-1].read_text())
    assert final["config"] == json.loads(SHIPPED.read_text())["config"]
    assert final["card"]["init"]["run"] == str((tmp_path / "repro" / "3-head").resolve())
    # Stage 2's head is the one-convolution form; stage 3 replaces it with a fresh multi-scale one.
    assert json.loads(stages[1].read_text())["config"]["class_scales"] == 1
    assert "2-palette has a different class head; the new one starts fresh" in printed[4]
    assert json.loads(stages[2].read_text())["card"]["trained"].startswith("class head only")
    bench = json.loads((tmp_path / "repro" / "bench.json").read_text())
    assert list(bench["tokenizers"]) == ["4-joint (learned)", "tokenizer-64 (learned)"]
    assert [p["levels"] for p in bench["prefixes"]] == [1, 2, 3, 4]
