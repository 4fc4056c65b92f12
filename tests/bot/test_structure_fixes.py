"""The two defects the structure review's type check found, each kept fixed."""

from __future__ import annotations

import aiohttp
import pytest

from bot.app.scale import ClusterEngine
from bot.app.services import build_services
from imaging.engine import GenerationError, ImageRequest
from imaging.jobs import ImageJob
from imaging.jobs.wire import WorkerInfo


async def test_arena_page_is_a_404_where_the_server_has_no_arena(app_factory, settings_factory):
    # `arena_page` is optional on Services: calling it unchecked answered 500.
    running = await app_factory(settings_factory())
    running.services.arena_page = None
    async with aiohttp.ClientSession() as http, http.get(running.url + "/arena") as resp:
        assert resp.status == 404
        assert "no arena" in await resp.text()


def _info(**over: object) -> WorkerInfo:
    info = WorkerInfo(name="sd-turbo", model_name="stabilityai/sd-turbo",
                      default_size=[512, 512], default_steps=2, max_batch_images=4,
                      guidance_scale=0.0, device="cuda", is_demo=False,
                      capabilities={"sizes": [[512, 512], [768, 512]]}, replica="r1",
                      max_replicas=None)
    info.update(over)  # type: ignore[typeddict-item]
    return info


async def test_the_cluster_engine_is_a_whole_engine(settings_factory, safety_gate):
    # startup reused one variable for an EngineSet and for the cluster's engine, which
    # lacked most of the engine protocol: the wiring now builds, runs and closes with it.
    engine = ClusterEngine(_info())
    assert engine.identity.device == "ray:cuda" and engine.identity.model == "stabilityai/sd-turbo"
    assert engine.capabilities.sizes == ((512, 512), (768, 512))
    services = build_services(settings_factory(), engine, gate=safety_gate)
    try:
        assert services.engines is not None and services.engines.default.device == "ray:cuda"
        handle = await services.runner.submit(ImageJob(ImageRequest("a kite", width=512,
                                                                    height=512), "u1"))
        with pytest.raises(GenerationError, match="Ray cluster"):
            await handle.wait()
    finally:
        await services.aclose()
