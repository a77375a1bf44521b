from pathlib import Path

import pytest

from millivid_env.record.recipe import load_recipe

DATASETS = Path(__file__).resolve().parents[2] / "datasets"


@pytest.mark.parametrize("name", sorted(p.stem for p in DATASETS.glob("*.toml")))
def test_shipped_recipes_load(name):
    recipe = load_recipe(DATASETS / f"{name}.toml")
    assert recipe.name == name and recipe.episodes > 0 and recipe.frames > 0


def test_revisit_recipe_is_held_out_from_training_seeds():
    evaluation, training = load_recipe(DATASETS / "voxel-revisit-64.toml"), load_recipe(DATASETS / "voxel-explore-64.toml")
    assert evaluation.frames == 1024 and evaluation.env == "millivid/VoxelLoop-v0"
    assert training.seed + training.episodes <= evaluation.seed


def test_mixed_explorers_are_drawn_per_episode_deterministically():
    recipe = load_recipe(DATASETS / "voxel-explore-64.toml")
    picks = [recipe.explorer_for(e).name for e in range(60)]
    assert picks == [recipe.explorer_for(e).name for e in range(60)]
    assert set(picks) == {"random", "revisit", "look_around"}


@pytest.mark.parametrize(
    "text, message",
    [
        ('[dataset]\nenv = "x"\nepisodes = 1\nframes = 2\nspeed = 3\n', "unknown key\\(s\\) \\['speed'\\] in \\[dataset\\]"),
        ('[dataset]\nenv = "x"\nepisodes = 1\n', "needs 'frames'"),
        ('[dataset]\nenv = "x"\nepisodes = 0\nframes = 2\n', "episodes must be a positive integer"),
        ('[dataset]\nenv = "x"\nepisodes = 1\nframes = 2\n[[explorer]]\nname = "fly"\n', "unknown explorer 'fly'"),
        ('[datasets]\n', "unknown table"),
        ('[dataset\n', "invalid TOML"),
    ],
)
def test_bad_recipes_name_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        load_recipe(path)
    assert str(path) in str(err.value)
