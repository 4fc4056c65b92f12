"""The diffusers engine and the job runner, on the built-in demo model (and a random-weights
Stable Diffusion folder for the plain `from_pretrained` path other models take)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest

from imaging.engine import EngineLoadError, ImageRequest
from imaging.engines.diffusers import DiffusersEngine
from imaging.jobs import ImageJob, JobProgress, JobQueued, LocalJobRunner
from tests.support.engines import Steered


def test_a_plain_diffusers_folder_loads_through_from_pretrained(random_model_dir: Path):
    assert (random_model_dir / "model_index.json").is_file()
    engine = DiffusersEngine.load(str(random_model_dir), device="cpu")
    assert engine.default_size == (256, 256) and engine.render_side is None
    assert (engine.default_steps, engine.guidance_scale) == (4, 0.0)  # no demo settings
    [res] = engine.generate([ImageRequest("a red apple", n=2, width=128, height=192, seed=7)])
    assert [im.size for im in res.images] == [(128, 192), (128, 192)]
    assert res.seeds == [7, 8]


def test_demo_model_draws_at_64_px_and_delivers_the_size_asked_for(demo_engine):
    assert demo_engine.default_size == (256, 256) and demo_engine.render_side == 64
    # Its evaluated settings, since the tests set no EASEL_IMAGE_STEPS / GUIDANCE_SCALE.
    assert (demo_engine.default_steps, demo_engine.guidance_scale) == (4, 3.0)
    assert demo_engine.render_size(256, 256) == (64, 64)
    assert demo_engine.render_size(1024, 576) == (112, 64)  # the aspect, short side 64
    [res] = demo_engine.generate([ImageRequest("a red apple", width=384, height=256, seed=1,
                                               guidance_scale=3.0)])
    assert res.images[0].size == (384, 256)


def test_operator_settings_override_the_demo_models_own(demo_model_dir: Path):
    engine = DiffusersEngine.load(str(demo_model_dir), device="cpu", default_steps=6,
                                  guidance_scale=0.0)
    assert (engine.default_steps, engine.guidance_scale) == (6, 0.0)


def test_same_seed_same_image_and_batching_keeps_seeds(demo_engine):
    alone = demo_engine.generate([ImageRequest("a boat", width=64, height=64, seed=3)])[0]
    a, b = demo_engine.generate([
        ImageRequest("a boat", width=64, height=64, seed=3),
        ImageRequest("a tree", n=2, width=64, height=64, seed=10),
    ])
    # Same seed -> the same picture whether alone or batched (batched matmuls differ in
    # the last bit, so allow a rounding step).
    diff = np.abs(np.asarray(alone.images[0], dtype=int) - np.asarray(a.images[0], dtype=int))
    assert diff.max() <= 2
    assert b.seeds == [10, 11] and len(b.images) == 2


@pytest.mark.parametrize("model", ["/nonexistent/model/folder", "./no-such-model"])
def test_missing_local_model_gives_a_clear_error(model: str):
    with pytest.raises(EngineLoadError) as err:
        DiffusersEngine.load(model, device="cpu")
    msg = str(err.value)
    assert "EASEL_IMAGE_MODEL" in msg and model in msg and "demo model" in msg


def test_unknown_hub_id_offline_gives_a_clear_error():
    with pytest.raises(EngineLoadError, match="HF_HUB_OFFLINE is set"):
        DiffusersEngine.load("easel-tests/no-such-model", device="cpu", offline=True)


def test_offline_comes_from_the_settings(settings_factory, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert settings_factory().hf_hub_offline is True
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert settings_factory().hf_hub_offline is False


class ThreadRecordingEngine(DiffusersEngine):
    """The real engine, noting which thread each generate call runs on."""

    threads: list[int]

    def generate(self, reqs, on_step=None):
        self.threads.append(threading.get_ident())
        return super().generate(reqs, on_step)


async def test_engine_never_runs_on_the_event_loop_thread(demo_model_dir: Path):
    engine = ThreadRecordingEngine.load(str(demo_model_dir), device="cpu")
    engine.threads = []
    runner = LocalJobRunner(engine)
    events: list[object] = []

    async def sink(event) -> None:
        events.append(event)

    try:
        handle = await runner.submit(ImageJob(ImageRequest("a kite", width=64, height=64,
                                                           steps=3), "u"))
        res = await handle.wait(sink)
    finally:
        await runner.close()
    assert len(res.images) == 1
    assert engine.threads and threading.get_ident() not in engine.threads
    # The job was queued first, then its steps flowed back to the loop.
    assert isinstance(events[0], JobQueued) and events[0].position == 1
    assert JobProgress(handle.id, 3, 3) in events


async def test_runner_batches_compatible_jobs_and_is_fair(demo_engine):
    engine = Steered(demo_engine, hold_at=1)  # busy with a first job while the rest queue
    runner = LocalJobRunner(engine, max_batch_images=4)
    order: list[str] = []

    async def wait(name: str, handle) -> None:
        await handle.wait()
        order.append(name)

    def job(user: str, i: int, size: int = 64) -> ImageJob:
        return ImageJob(ImageRequest(f"{user}{i}", width=size, height=size, seed=i), user)

    try:
        first = await runner.submit(job("warm", 0, 128))
        await asyncio.to_thread(engine.at_hold.wait, 30)
        handles = [(f"alice{i}", await runner.submit(job("alice", i))) for i in range(4)]
        handles.append(("bob0", await runner.submit(job("bob", 0))))
        engine.hold_at = None
        engine.release.set()
        await asyncio.gather(first.wait(), *(wait(n, h) for n, h in handles))
    finally:
        await runner.close()
    # Bob asked once after Alice asked four times, yet he is served in the first round
    # that follows, not after all of Alice's images.
    assert order.index("bob0") < order.index("alice1")
    # 6 jobs, but compatible ones shared pipeline calls.
    assert runner.batches_run < 6


def test_dtype_choice():
    import torch

    from imaging.engines.diffusers import _pick_dtype

    assert _pick_dtype("auto", "cpu", "black-forest-labs/FLUX.1-schnell") is torch.float32
    assert _pick_dtype("bfloat16", "cpu", "stabilityai/sd-turbo") is torch.bfloat16
    assert _pick_dtype("float16", "cuda", "x") is torch.float16
