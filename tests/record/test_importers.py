import json

import cv2
import numpy as np
import pytest

from millivid_env.envs.action_codec import ActionCodec
from millivid_env.errors import UserError
from millivid_env.record import layout
from millivid_env.record.importers import VPT_DEGREES_PER_PIXEL, import_dataset
from millivid_env.record.verify import verify_dataset


def write_video(path, frames: int, size=(24, 32)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 20, (size[1], size[0]))
    for i in range(frames):
        writer.write(np.full((*size, 3), (i * 9) % 255, np.uint8))
    writer.release()


def read_episode(out, name="episode_0"):
    with layout.open_shard(layout.shard_path(out, 0)) as f:
        g = f[name]
        return {p: g[p][:] for p in layout.frame_paths(g) + layout.action_paths(g) + list(layout.STEP_FIELDS)}


def test_minerl_v0_episodes(tmp_path):
    src = tmp_path / "minerl"
    for name, steps in (("v3_a", 10), ("v3_b", 6)):
        folder = src / name
        folder.mkdir(parents=True)
        write_video(folder / "recording.mp4", steps + 3)  # MineRL videos start with loading frames
        np.savez(folder / "rendered.npz", **{
            "action$forward": np.ones(steps, np.int64), "action$jump": np.zeros(steps, np.int64),
            "action$camera": np.tile([[1.5, -3.0]], (steps, 1)).astype(np.float32),
            "action$place": np.array(["none"] * (steps - 1) + ["dirt"]), "reward": np.arange(steps, dtype=np.float32),
            "observation$location_stats$xpos": np.arange(steps + 1, dtype=float), "observation$location_stats$ypos": np.full(steps + 1, 64.0),
            "observation$location_stats$zpos": np.zeros(steps + 1), "observation$location_stats$yaw": np.zeros(steps + 1),
            "observation$location_stats$pitch": np.zeros(steps + 1),
        })
    out = tmp_path / "imported"
    meta = import_dataset("minerl", src, out, size=(16, 16))
    assert meta["total_episodes"] == 2 and meta["total_steps"] == 16
    assert ActionCodec.for_space(meta["action_space"]).kind == "minerl"  # a simulator can train on it
    assert verify_dataset(out).ok
    ep = read_episode(out)
    assert ep["obs/rgb"].shape == (11, 16, 16, 3)
    assert ep["actions/forward"].tolist() == [1] * 10 and ep["actions/use"].tolist() == [0] * 9 + [1]
    assert np.allclose(ep["actions/camera"], [1.5, -3.0]) and ep["rewards"].tolist() == list(range(10))
    assert ep["pose"][:, 0].tolist() == list(range(11)) and ep["truncations"][-1]


def test_vpt_episodes_map_keys_mouse_and_pose(tmp_path):
    src = tmp_path / "vpt"
    src.mkdir()
    write_video(src / "cheeky-cornflower.mp4", 5)
    lines = [{"keyboard": {"keys": ["key.keyboard.w", "key.keyboard.space"] if i % 2 == 0 else ["key.keyboard.left.control"]},
              "mouse": {"dx": 24.0, "dy": -12.0, "buttons": [0] if i == 1 else []},
              "xpos": 1.0 * i, "ypos": 70.0, "zpos": 2.0, "yaw": 90.0, "pitch": 10.0} for i in range(5)]
    (src / "cheeky-cornflower.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    out = tmp_path / "imported"
    import_dataset("vpt", src, out)
    ep = read_episode(out)
    assert ep["obs/rgb"].shape == (5, 24, 32, 3)
    assert ep["actions/forward"].tolist() == [1, 0, 1, 0] and ep["actions/sprint"].tolist() == [0, 1, 0, 1]
    assert ep["actions/jump"].tolist() == [1, 0, 1, 0] and ep["actions/attack"].tolist() == [0, 1, 0, 0]
    assert np.allclose(ep["actions/camera"], [-12.0 * VPT_DEGREES_PER_PIXEL, 24.0 * VPT_DEGREES_PER_PIXEL])
    assert ep["pose"][:, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and ep["pose"][0, 3] == 90.0


def test_loopcraft_episodes(tmp_path):
    src = tmp_path / "loop"
    src.mkdir()
    write_video(src / "walk.mp4", 8)
    table = np.column_stack([np.arange(8) % 3, np.arange(8.0), np.full(8, 30.0), np.zeros(8), np.arange(8) * 10.0, np.zeros(8)])
    np.save(src / "walk.npy", table)
    out = tmp_path / "imported"
    assert ActionCodec.for_space(import_dataset("loopcraft", src, out)["action_space"]) == ActionCodec("discrete", 3)
    ep = read_episode(out)
    assert ep["actions/action"].tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert np.allclose(ep["pose"], table[:, 1:])


@pytest.mark.parametrize(
    "fmt, make, message",
    [
        ("minerl", lambda d: (d / "ep").mkdir(), "missing recording.mp4"),
        ("vpt", lambda d: write_video(d / "a.mp4", 3), "missing a.jsonl"),
        ("loopcraft", lambda d: None, "no .mp4 files"),
        ("loopcraft", lambda d: (write_video(d / "a.mp4", 3), np.save(d / "a.npy", np.zeros((3, 4)))), "expected shape \\(frames, 6\\)"),
    ],
)
def test_incomplete_sources_name_the_missing_piece_and_write_nothing(tmp_path, fmt, make, message):
    src = tmp_path / "src"
    src.mkdir()
    make(src)
    out = tmp_path / "out"
    with pytest.raises(UserError, match=message):
        import_dataset(fmt, src, out)
    assert not out.exists()
