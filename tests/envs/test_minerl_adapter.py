import gymnasium as gym
import numpy as np
import pytest

from millivid_env.envs.actions import noop
from millivid_env.envs.minerl_adapter import INSTALL_HINT, action_to_minerl, pose_from_minerl, pov_from_minerl


def minerl_obs():
    """What MineRL returns: pov plus location_stats among many other keys."""
    return {
        "pov": np.full((360, 640, 3), 90, np.uint8),
        "inventory": {"dirt": np.array(3)},
        "location_stats": {"xpos": np.array(10.5), "ypos": np.array(64.0), "zpos": np.array(-3.25),
                           "yaw": np.array(-90.0), "pitch": np.array(15.0)},
    }


def test_pose_and_pov_mapping():
    obs = minerl_obs()
    assert pose_from_minerl(obs).tolist() == [10.5, 64.0, -3.25, -90.0, 15.0]
    pov = pov_from_minerl(obs, (64, 64))
    assert pov.shape == (64, 64, 3) and pov.dtype == np.uint8 and (pov == 90).all()
    assert np.isnan(pose_from_minerl({"pov": obs["pov"]})).all()
    with pytest.raises(ValueError, match="MineRL pov"):
        pov_from_minerl({"pov": np.zeros((64, 64))}, (64, 64))


def test_action_mapping_onto_minerl_0x_and_1x_noops():
    legacy_noop = {"forward": 0, "back": 0, "left": 0, "right": 0, "jump": 0, "sneak": 0, "sprint": 0,
                   "attack": 0, "camera": np.zeros(2), "place": "none", "craft": "none"}
    vpt_noop = {**{k: 0 for k in ("forward", "back", "left", "right", "jump", "sneak", "sprint", "attack", "use",
                                  "ESC", "drop", "hotbar.1")}, "camera": np.zeros(2)}
    action = {**noop(), "forward": 1, "use": 1, "camera": np.array([-5.0, 12.0], np.float32)}
    legacy = action_to_minerl(action, legacy_noop)
    assert legacy["forward"] == 1 and legacy["place"] == "dirt" and legacy["craft"] == "none"
    assert legacy["camera"].tolist() == [-5.0, 12.0]
    vpt = action_to_minerl(action, vpt_noop)
    assert vpt["use"] == 1 and vpt["ESC"] == 0 and "place" not in vpt
    with pytest.raises(ValueError, match="camera"):
        action_to_minerl({"camera": np.zeros(4)}, vpt_noop)


def test_make_without_minerl_says_how_to_install():
    # MineRL cannot be built on our machines; where it is installed this check does not apply.
    try:
        import minerl  # noqa: F401
        pytest.skip("MineRL is installed")
    except ImportError:
        pass
    with pytest.raises(gym.error.DependencyNotInstalled) as err:
        gym.make("millivid/MineRL-v0")
    assert str(err.value) == INSTALL_HINT and "pip install 'millivid-env[minerl]'" in INSTALL_HINT
