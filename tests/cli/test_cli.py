import subprocess
import sys

import cv2
import pytest

from millivid_env.cli.main import COMMANDS, main
from millivid_env.errors import UserError


def test_render_writes_a_contact_sheet(tmp_path):
    assert main(["render", "--seed", "2", "--out", "sheet.png", "--size", "32", "--cols", "6"]) == 0
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    # 8 spawn views + 10 landmarks = 18 tiles of 32 px with 2 px padding, 6 per row.
    assert sheet.shape == (3 * 34 + 2, 6 * 34 + 2, 3)


def test_walk_writes_a_video_with_every_frame(tmp_path):
    assert main(["walk", "--frames", "12", "--out", "walk.mp4", "--scale", "2"]) == 0
    video = cv2.VideoCapture(str(tmp_path / "walk.mp4"))
    count = 0
    while video.read()[0]:
        count += 1
    assert count == 13  # the reset frame and 12 steps
    assert video.get(cv2.CAP_PROP_FRAME_WIDTH) == 128


def test_play_runs_headless_and_walks_on_key_presses(capsys):
    import pygame

    from millivid_env.cli import play

    pygame.init()
    player = play.Player()
    w_down = pygame.event.Event(pygame.KEYDOWN, key=pygame.K_w)
    turn = pygame.event.Event(pygame.MOUSEMOTION, rel=(20, 0), pos=(0, 0), buttons=(0, 0, 0))
    mouse = player.handle([w_down, turn])
    action = play.keys_to_action(player.held, mouse, player.clicks)
    assert action["forward"] == 1 and action["camera"][1] == pytest.approx(20 * play.MOUSE_DEGREES_PER_PIXEL)
    player.handle([pygame.event.Event(pygame.KEYUP, key=pygame.K_w)])
    assert play.keys_to_action(player.held, (0, 0), set())["forward"] == 0
    assert main(["play", "--max-frames", "3", "--size", "32"]) == 0
    assert "played 3 frames" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["walk", "--env", "millivid/Nope-v0", "--frames", "1"], "unknown env id 'millivid/Nope-v0'"),
        (["render", "--size", "2"], "size must be"),
        (["walk", "--size", "64", "--frames", "1", "--env", "millivid/MineRL-v0"], "needs MineRL"),
    ],
)
def test_bad_input_is_one_line_without_traceback(argv, message):
    proc = subprocess.run([sys.executable, "-m", "millivid_env.cli.main", *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("error, one_line", [(UserError("no such dataset"), True), (ValueError("an invariant broke"), False),
                                             (FileNotFoundError("internal file"), False)])
def test_only_user_errors_are_one_line_and_bugs_keep_their_traceback(monkeypatch, capsys, error, one_line):
    def fail(args):
        raise error

    monkeypatch.setattr(COMMANDS["verify"], "run", fail)
    if one_line:
        assert main(["verify", "x"]) == 2
        assert capsys.readouterr().err == f"millivid verify: error: {error}\n"
    else:
        with pytest.raises(type(error)):
            main(["verify", "x"])


def test_unknown_subcommand_is_refused():
    proc = subprocess.run([sys.executable, "-m", "millivid_env.cli.main", "fly"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice: 'fly'" in proc.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_explains_its_options(command, capsys):
    # argparse formats help text with %, so a stray % in a help string only fails here.
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: millivid {command}") and "--help" in out


def test_play_sim_steps_the_simulator_and_the_true_world_while_a_key_is_held(monkeypatch, capsys, tmp_path):
    import pygame

    from millivid_env.cli import play

    pygame.init()
    assert play.keys_to_macro({pygame.K_w}) == 0 and play.keys_to_macro({pygame.K_d}) == 2 and play.keys_to_macro(set()) is None
    from tests.sim.test_env import tiny_sim

    sim = tiny_sim(tmp_path) / "sim"
    events = iter([[pygame.event.Event(pygame.KEYDOWN, key=pygame.K_a)], [], [pygame.event.Event(pygame.KEYUP, key=pygame.K_a)], []])
    monkeypatch.setattr(pygame.event, "get", lambda: next(events, []))
    assert main(["play", "--sim", str(sim), "--beside", "--max-frames", "4"]) == 0
    assert "played 2 simulated frames" in capsys.readouterr().out  # held for two loops, then released
    with pytest.raises(UserError, match="--beside needs --sim"):
        play.run(play_args(beside=True))


def test_play_sim_of_dict_actions_steps_a_tick_every_frame_beside_the_voxel_world(monkeypatch, capsys, tmp_path):
    import pygame

    from millivid_env.envs.action_codec import ActionCodec
    from millivid_env.envs.actions import action_space
    from tests.sim.test_env import tiny_sim

    sim = tiny_sim(tmp_path, ActionCodec.for_space(action_space())) / "sim"
    events = iter([[pygame.event.Event(pygame.KEYDOWN, key=pygame.K_w)], []])
    monkeypatch.setattr(pygame.event, "get", lambda: next(events, []))
    assert main(["play", "--sim", str(sim), "--beside", "--max-frames", "3"]) == 0
    assert "played 3 simulated frames" in capsys.readouterr().out  # no key held is a no-op tick, not a pause


def play_args(**overrides):
    import argparse

    from millivid_env.cli import play

    parser = argparse.ArgumentParser()
    play.add_parser(parser)
    return argparse.Namespace(**{**vars(parser.parse_args([])), **overrides})
