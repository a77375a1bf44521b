import subprocess
import sys

import pytest

from millivid_env.cli.main import main
from tests.conftest import write_recipe


def run_cli(*argv):
    return subprocess.run([sys.executable, "-m", "millivid_env.cli.main", *argv], capture_output=True, text=True)


def test_collect_inspect_verify_export(tmp_path, capsys):
    recipe = write_recipe(tmp_path / "tiny.toml", episodes=2, frames=20)
    assert main(["collect", str(recipe), "--episodes", "3"]) == 0  # default output beside the recipe
    printed = capsys.readouterr().out
    assert "episodes 3 complete" in printed and "frames   63 (60 steps)" in printed
    assert main(["verify", str(tmp_path / "tiny")]) == 0
    assert "ok: 3 episodes, 60 steps" in capsys.readouterr().out
    assert main(["inspect", str(tmp_path / "tiny")]) == 0
    assert "obs/rgb" in capsys.readouterr().out
    assert main(["export-minari", str(tmp_path / "tiny"), str(tmp_path / "m" / "tiny-v0")]) == 0


def test_verify_fails_with_a_clear_message_on_a_broken_dataset(tmp_path):
    (tmp_path / "broken" / "shards").mkdir(parents=True)
    result = run_cli("verify", str(tmp_path / "broken"))
    assert result.returncode == 1 and "no dataset.json" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["collect", "missing.toml"], "missing.toml: no such recipe"),
        (["import", "vpt", "nowhere", "out"], "nowhere: no such folder"),
        (["inspect", "nowhere"], "nowhere: not a dataset"),
        (["collect", "r.toml", "--episodes", "0"], "must be >= 1"),
    ],
)
def test_bad_input_is_one_line(tmp_path, argv, message):
    write_recipe(tmp_path / "r.toml", episodes=1, frames=5)
    result = subprocess.run([sys.executable, "-m", "millivid_env.cli.main", *argv], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_resume_cannot_change_frames(tmp_path):
    recipe = write_recipe(tmp_path / "r.toml", episodes=1, frames=5)
    assert run_cli("collect", str(recipe)).returncode == 0
    result = run_cli("collect", str(recipe), "--resume", "--frames", "9")
    assert result.returncode == 2 and "collected with frames=5; --resume cannot change it" in result.stderr
