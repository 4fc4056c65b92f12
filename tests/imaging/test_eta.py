"""The queue's first ETAs: from the engine's timed warm-up, and a prior that is not 16×
too pessimistic for the built-in demo model's 256 px pictures."""

from __future__ import annotations

import pytest

from imaging.engine import ImageRequest
from imaging.engines.diffusers import DiffusersEngine
from imaging.jobs import LocalJobRunner
from imaging.jobs.eta import Throughput


def _req(side: int = 256, steps: int = 4, n: int = 1) -> ImageRequest:
    return ImageRequest("a red heart", width=side, height=side, steps=steps, n=n)


def test_the_prior_is_per_output_pixel_of_the_demo_model():
    # The demo draws 64 px and shows 256 px at about 0.05 s a step on a CPU: four
    # pictures of four steps were once announced as "about 13 s" (12.8); they take ~0.5 s.
    assert Throughput().seconds(_req(n=4)) == pytest.approx(0.8)
    assert Throughput().seconds(_req(512)) == pytest.approx(4 * Throughput().seconds(_req()))


def test_a_seed_gives_way_to_the_first_real_batch():
    throughput = Throughput()
    warm = ImageRequest("warm-up", width=256, height=256, steps=1)
    throughput.seed(warm, 0.3)  # a first call pays for initialisation too
    assert throughput.seconds(_req()) == pytest.approx(1.2)
    assert throughput.seconds(warm) == pytest.approx(0.3)
    assert throughput.per_image is None  # /models shows no one-step "picture" time
    throughput.observe([_req()], 0.4)
    # Replaced, not averaged with: the warm-up's key is forgotten too.
    assert throughput.seconds(_req()) == pytest.approx(0.4)
    assert throughput.seconds(warm) == pytest.approx(0.1)
    throughput.seed(warm, 9.0)  # once something real ran, a seed changes nothing
    assert throughput.seconds(_req()) == pytest.approx(0.4)


def test_a_fresh_runner_starts_from_its_engines_timed_warm_up(demo_model_dir):
    engine = DiffusersEngine.load(str(demo_model_dir), device="cpu")
    assert getattr(engine, "warm_up_timing", None) is None
    engine.warm_up()
    warm, seconds = engine.warm_up_timing
    assert warm.steps == 1 and seconds > 0
    runner = LocalJobRunner(engine)
    w, h = engine.default_size
    first = ImageRequest("a fox", width=w, height=h, steps=engine.default_steps, n=2)
    per_pixel_step = seconds / (warm.width * warm.height)
    assert runner.throughput.seconds(first) == pytest.approx(
        per_pixel_step * w * h * engine.default_steps * 2)
