import numpy as np
import pytest

from millivid_env.errors import UserError
from millivid_env.record import layout
from millivid_env.record.minari_export import export_minari


def test_export_loads_with_minari_and_matches_the_dataset(small_dataset, tmp_path, monkeypatch):
    minari = pytest.importorskip("minari")
    out = tmp_path / "minari" / "small-voxel-v0"
    export_minari(small_dataset, out)
    assert (out / "data" / "main_data.hdf5").exists() and (out / "data" / "metadata.json").exists()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    dataset = minari.load_dataset("small-voxel-v0")
    assert dataset.total_episodes == 3 and dataset.total_steps == 120
    episodes = list(dataset.iterate_episodes())
    ref = layout.episode_refs(small_dataset)[1]
    with layout.open_shard(ref.shard) as f:
        assert np.array_equal(episodes[1].observations["pov"], f[ref.name]["obs/rgb"][:])
        assert np.array_equal(episodes[1].actions, f[ref.name]["actions/action"][:])
        assert np.allclose(episodes[1].infos["pose"], f[ref.name]["pose"][:])
    assert dataset.action_space.n == 3


def test_export_needs_a_minari_style_id(small_dataset, tmp_path):
    with pytest.raises(UserError, match="not a Minari dataset id"):
        export_minari(small_dataset, tmp_path / "no_version")
