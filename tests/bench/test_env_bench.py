import numpy as np

from millivid_env.bench.env_bench import EnvBenchConfig, run_env_bench, walking_actions, walking_macros
from millivid_env.envs.actions import HOLD_TICKS, macro_tick_action


def test_walking_actions_hold_macros_for_their_ticks():
    actions = walking_actions(HOLD_TICKS * 10, 0)
    assert len(actions) == HOLD_TICKS * 10
    assert all(actions[i]["forward"] == actions[i - i % HOLD_TICKS]["forward"] for i in range(len(actions)))


def test_walking_actions_expand_the_walking_macros():
    macros = walking_macros(4, 3)
    actions = walking_actions(HOLD_TICKS * 4, 3)
    for i, m in enumerate(macros):
        tick = macro_tick_action(m)
        assert all(np.array_equal(actions[i * HOLD_TICKS][k], tick[k]) for k in tick)


def test_env_bench_reports_ratios_against_crafter_from_the_same_run():
    result = run_env_bench(EnvBenchConfig(seconds=0.05, worlds=2, walk_ticks=HOLD_TICKS * 2))
    steps = result["steps_per_second"]
    assert all(v > 0 for v in steps.values())
    ratios = result["ratios_vs_crafter_64"]
    assert ratios["voxel_world_64"] == steps["voxel_world_64"] / steps["crafter_64"]
    assert ratios["voxel_world_256"] == steps["voxel_world_256"] / steps["crafter_64"]
    assert result["targets"]["voxel_world_64 >= 3x crafter"] == (ratios["voxel_world_64"] >= 3.0)
    assert result["voxel_walks"] == {"worlds": 2, "ticks_per_walk": HOLD_TICKS * 2, "policy": "70% forward+jump, 15% each turn"}


def test_env_bench_times_the_world_with_every_core_busy_against_its_share_of_one_thread():
    result = run_env_bench(EnvBenchConfig(seconds=0.05, worlds=1, walk_ticks=HOLD_TICKS * 2))
    for size, shared in result["voxel_world_shared_cpu"].items():
        assert shared["busy_processes"] >= 1 and 0 < shared["cpu_share"] < 1
        assert shared["busy_goal"] == shared["one_thread_idle"] * shared["cpu_share"]
        assert shared["idle"] == result["steps_per_second"][f"voxel_world_{size.split('x')[0]}"]  # the same run's idle figure
        assert shared["busy_vs_goal"] == shared["busy"] / shared["busy_goal"]
        assert result["targets"][f"voxel_world_{size} busy >= one thread x CPU share"] == (shared["busy_vs_goal"] >= 1.0)
