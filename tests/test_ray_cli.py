"""`easel ray deploy` asks a GPU per replica only where one can be had."""

from __future__ import annotations

from bot.app.ray_cli import default_gpus


def test_a_replica_asks_for_a_gpu_only_where_the_model_can_use_one() -> None:
    assert default_gpus("cuda", 0) == 1.0  # asked for: it waits until a GPU node joins
    assert default_gpus("auto", 8) == 1.0
    assert default_gpus("auto", 0) == 0.0  # a CPU-only cluster: the replica would never start
    assert default_gpus("cpu", 8) == 0.0
    assert default_gpus("mps", 0) == 0.0  # Ray counts no GPU on a Mac
