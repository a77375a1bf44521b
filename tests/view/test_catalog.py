"""The viewer's dataset catalog: episodes, tracks, revisits, landmarks and frames, read lazily."""
import hashlib

import numpy as np
import pytest

from millivid_env.data.revisits import RevisitConfig, revisit_mask
from millivid_env.errors import UserError
from millivid_env.envs.actions import MACRO_ACTIONS
from millivid_env.record import layout
from millivid_env.view.catalog import DatasetCatalog
from millivid_env.world import Camera
from millivid_env.viz.maps import block_image, depth_image

CONTEXT = RevisitConfig(context=10, recent=4, radius=6, max_yaw=180)


def digest(root):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_episode_rows_track_revisits_and_world(small_dataset):
    catalog = DatasetCatalog(small_dataset, CONTEXT)
    assert catalog.error is None
    rows = catalog.episodes()
    assert [r["index"] for r in rows] == [0, 1, 2] and all(r["steps"] == 40 and r["complete"] for r in rows)
    assert catalog._worlds == {}, "listing episodes reads poses only; worlds are rebuilt when an episode is opened"
    episode = catalog.episode(1)
    with layout.open_shard(layout.shard_path(small_dataset, 0)) as f:
        poses = f["episode_1/pose"][:]
    assert episode["frames"] == 41 and episode["fields"] == ["rgb", "depth", "block_id"] and episode["shape"] == [16, 16]
    assert np.allclose(episode["track"]["x"], poses[:, 0], atol=0.01) and np.allclose(episode["track"]["yaw"], poses[:, 3], atol=0.1)
    assert episode["revisits"] == np.flatnonzero(revisit_mask(poses, CONTEXT)).tolist() and episode["revisits"]
    assert rows[1]["revisits"] == len(episode["revisits"])
    # the world is rebuilt from the recorded seed: its landmarks, and the env's action names
    world = catalog.world(1)
    assert world.action_names == MACRO_ACTIONS and len(episode["landmarks"]) == len(world.landmarks) > 0
    assert episode["world_size"] == list(world.size) and world.top_down.shape == (world.size[1], world.size[0], 3)
    start = np.array([episode["track"]["x"][0], episode["track"]["z"][0]])
    assert 0 <= start[0] < world.size[0] and 0 <= start[1] < world.size[1]


def test_frames_and_steps_match_the_file(small_dataset):
    catalog = DatasetCatalog(small_dataset)
    with layout.open_shard(layout.shard_path(small_dataset, 0)) as f:
        group = f["episode_2"]
        rgb, depth, ids = group["obs/rgb"][17], group["obs/depth"][17], group["obs/block_id"][17]
        action, pose = int(group["actions/action"][17]), group["pose"][17]
    assert np.array_equal(catalog.frame(2, "rgb", 17), rgb)
    assert np.array_equal(catalog.frame(2, "depth", 17), depth_image(depth, Camera().view_distance))
    assert np.array_equal(catalog.frame(2, "block_id", 17), block_image(ids))
    step = catalog.step(2, 17)
    assert step["action"] == {"action": action} and np.allclose(step["pose"], pose, atol=1e-3) and step["rewards"] == 0.0
    assert "action" not in catalog.step(2, 40), "the last frame has no action taken from it"


def test_false_colours_order_depth_and_keep_block_colours():
    depth = np.array([[0.5, 4.0, 30.0, 96.0]], np.float32)
    image = depth_image(depth, far=96.0).astype(int)
    brightness = image.sum(-1)[0]
    assert brightness[0] > brightness[1] > brightness[2] > 0 and brightness[3] == 0
    assert block_image(np.array([[0, 16]], np.uint8)).shape == (1, 2, 3)
    assert not np.array_equal(block_image(np.array([[16]], np.uint8)), block_image(np.array([[17]], np.uint8)))


def test_bad_requests_and_datasets_are_one_line_errors(small_dataset, tmp_path):
    catalog = DatasetCatalog(small_dataset)
    for call in (lambda: catalog.episode(7), lambda: catalog.frame(0, "rgb", 41), lambda: catalog.frame(0, "normals", 0),
                 lambda: catalog.step(0, -1)):
        with pytest.raises(UserError) as e:
            call()
        assert "\n" not in str(e.value)
    assert "no such dataset folder" in DatasetCatalog(tmp_path / "missing").error
    broken = tmp_path / "broken"
    (broken / layout.SHARDS).mkdir(parents=True)
    (broken / layout.DATASET_JSON).write_text((small_dataset / layout.DATASET_JSON).read_text())
    (broken / layout.SHARDS / "shard_0.h5").write_bytes(b"not hdf5 at all" * 100)
    assert "corrupt" in DatasetCatalog(broken).error
    with pytest.raises(UserError, match="corrupt"):
        DatasetCatalog(broken).episodes()


def test_viewing_never_writes_to_the_dataset(small_dataset):
    before = digest(small_dataset)
    catalog = DatasetCatalog(small_dataset)
    catalog.episodes()
    for t in range(0, 41, 5):
        catalog.frame(0, "rgb", t), catalog.frame(1, "depth", t), catalog.step(2, t)
    catalog.close()
    assert digest(small_dataset) == before
