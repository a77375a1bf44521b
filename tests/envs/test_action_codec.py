"""Action ids for the world model: Discrete ids as they are, MineRL-style Dict actions as digits."""
import numpy as np
import pytest
import torch
from gymnasium import spaces

from millivid_env.envs.action_codec import (
    CAMERA_BINS, DICT_FACTORS, ActionCodec, camera_bins, factor_rows,
)
from millivid_env.envs.actions import action_space, macro_tick_action, noop
from millivid_env.errors import UserError

DICT = ActionCodec.for_space(action_space())


def digits(codec, id_):
    return np.unravel_index(id_, codec.factors, order="F")


def test_discrete_ids_are_the_actions():
    codec = ActionCodec.for_space("Discrete(3)")
    assert (codec.kind, codec.n, codec.none, codec.factors) == ("discrete", 3, 3, (3,))
    assert codec.encode(2) == 2 and codec.encode_many([0, 2, 1]).tolist() == [0, 2, 1]
    assert codec.space() == spaces.Discrete(3)
    with pytest.raises(UserError, match=r"action must be an int in \[0, 3\)"):
        codec.encode(3)
    with pytest.raises(UserError, match=r"actions must be ints in \[0, 3\)"):
        codec.encode_columns({"action": np.array([0, 5])})


def test_dict_actions_become_digits_of_moves_buttons_and_camera_bins():
    assert (DICT.kind, DICT.n) == ("minerl", int(np.prod(DICT_FACTORS))) and DICT.space() == action_space()
    middle = CAMERA_BINS // 2
    assert digits(DICT, DICT.encode(noop())) == (0, 0, 0, 0, 0, 0, 0, middle, middle)
    forward_jump = macro_tick_action(0)
    assert digits(DICT, DICT.encode(forward_jump)) == (1, 0, 1, 0, 0, 0, 0, middle, middle)
    assert DICT.encode({**noop(), "forward": 1, "back": 1}) == DICT.encode(noop())  # they cancel, as in the world
    assert digits(DICT, DICT.encode({**noop(), "back": 1, "left": 1}))[:2] == (2, 2)
    turns = [digits(DICT, DICT.encode(macro_tick_action(m)))[-1] for m in (1, 2)]
    assert turns[0] < middle < turns[1] and turns[0] + turns[1] == 2 * middle  # a macro tick's turn is not lost
    # missing buttons count as 0; every id is below n
    assert DICT.encode({"camera": np.zeros(2)}) == DICT.encode(noop()) < DICT.n


def test_camera_bins_are_symmetric_finer_near_zero_and_saturate():
    bins = camera_bins(np.array([-180, -10, -0.5, 0, 0.5, 10, 180]))
    assert bins.tolist() == [0, 0, bins[2], CAMERA_BINS // 2, CAMERA_BINS - 1 - bins[2], CAMERA_BINS - 1, CAMERA_BINS - 1]
    assert bins[2] < CAMERA_BINS // 2  # half a degree already leaves the middle bin (mu-law)
    assert np.all(np.diff(camera_bins(np.linspace(-12, 12, 97))) >= 0)


def test_recorded_columns_encode_as_single_actions_do():
    rng = np.random.default_rng(0)
    actions = [action_space().sample() for _ in range(20)]
    for a in actions:
        a["camera"] = rng.normal(0, 4, 2).astype(np.float32)
    columns = {k: np.stack([a[k] for a in actions]) for k in actions[0]}
    assert DICT.encode_columns(columns).tolist() == [DICT.encode(a) for a in actions] == DICT.encode_many(actions).tolist()


def test_bad_spaces_and_actions_say_what_is_wrong():
    with pytest.raises(UserError, match="Discrete or MineRL-style Dict actions, not Box"):
        ActionCodec.for_space(spaces.Box(0, 1, (2,)))
    with pytest.raises(UserError, match="unknown action keys"):
        DICT.encode({"fly": 1})
    with pytest.raises(UserError, match="no 'camera'"):
        DICT.encode_columns({"action": np.zeros(3)})
    with pytest.raises(UserError, match="does not match its factors"):
        ActionCodec("minerl", 3)


def test_factor_rows_give_each_digit_its_own_row():
    ids = torch.arange(0, DICT.n, 997)
    rows = factor_rows(ids, DICT.factors)
    starts = np.cumsum((0,) + DICT.factors[:-1])
    expected = np.stack(digits(DICT, ids.numpy()), 1) + starts
    assert rows.tolist() == expected.tolist() and int(rows.max()) < sum(DICT.factors)
    assert factor_rows(torch.tensor([0, 1, 2]), (3,)).squeeze(-1).tolist() == [0, 1, 2]
