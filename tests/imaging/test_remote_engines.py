"""The remote engines against loopback fakes of their real APIs: OpenAI and Azure OpenAI
images (JSON and multipart, errors, 429s), and ComfyUI (its HTTP routes, its websocket
messages and binary preview frames). Plus the engines file's validation."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from PIL import Image

from imaging.engine import ContentRefused, EngineBusy, GenerationError, ImageRequest, StepInfo
from imaging.engines.config import EnginesFileError, load_engines_file, parse_engines
from imaging.engines.registry import EngineSet, build_engines
from tests.support.fake_comfyui import comfyui
from tests.support.fake_images_api import (
    AZURE_KEY,
    KEY,
    Failure,
    azure_content_filter,
    images_api,
    policy_violation,
    rate_limited,
)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _engines(table: list[dict], env: dict | None = None, entra=None) -> EngineSet:
    file = parse_engines({"engine": table}, env or {"OPENAI_API_KEY": KEY,
                                                     "AZURE_OPENAI_API_KEY": AZURE_KEY},
                         base_dir=DEPLOY)
    return build_engines(file, lambda spec: pytest.fail("no local engine here"), entra)


def _openai(url: str, model: str = "dall-e-3", **extra) -> dict:
    return {"name": "dalle", "kind": "openai", "base_url": f"{url}/v1", "model": model,
            "api_key_env": "OPENAI_API_KEY", **extra}


async def _sleeps(engine) -> list[float]:
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    engine.sleep = sleep
    return slept


# ---- OpenAI --------------------------------------------------------------------------
async def test_dalle3_makes_n_images_with_n_concurrent_calls_and_shows_the_revised_prompt():
    async with images_api(hold=asyncio.Event()) as fake:
        engines = _engines([_openai(fake.url)])
        engine = engines.get("dalle").engine
        req = ImageRequest("a red fox in snow", n=3, width=1792, height=1024)
        task = asyncio.ensure_future(engine.agenerate([req]))
        while len(fake.calls) < 3:  # all three are in flight before any is answered
            fake.arrived.clear()
            await asyncio.wait_for(fake.arrived.wait(), 10)
        assert fake.in_flight == 3
        fake.hold.set()
        [result] = await task
        await engines.aclose()
    assert [c.body["n"] for c in fake.calls] == [1, 1, 1]
    assert {c.body["size"] for c in fake.calls} == {"1792x1024"}
    assert all(c.body["model"] == "dall-e-3" and c.body["response_format"] == "b64_json"
               for c in fake.calls)
    assert len(result.images) == 3 and result.images[0].size == (1792, 1024)
    assert result.revised_prompt == "A detailed rendering of a red fox in snow"
    caps = engine.capabilities
    assert not caps.seeds and not caps.edits and not caps.negative_prompt
    assert caps.fit_size(1600, 900) == (1792, 1024) and caps.fit_size(500, 500) == (1024, 1024)


async def test_gpt_image_edits_upload_the_picture_as_multipart():
    async with images_api() as fake:
        engines = _engines([_openai(fake.url, "gpt-image-1")])
        engine = engines.get("dalle").engine
        source = Image.new("RGB", (640, 480), (200, 30, 30))
        req = ImageRequest("make it blue", n=2, width=1024, height=1024, init_image=source,
                           strength=0.5)
        [result] = await engine.agenerate([req])
        await engines.aclose()
    [call] = fake.calls
    assert call.path == "/v1/images/edits" and call.files["image"][:8] == b"\x89PNG\r\n\x1a\n"
    assert call.body == {"prompt": "make it blue", "n": 2, "size": "1024x1024",
                         "model": "gpt-image-1"}  # no response_format for gpt-image models
    assert len(result.images) == 2 and engine.capabilities.edits


async def test_a_content_policy_refusal_names_the_provider():
    async with images_api() as fake:
        fake.fail.append(policy_violation())
        engines = _engines([_openai(fake.url)])
        with pytest.raises(ContentRefused) as info:
            await engines.get("dalle").engine.agenerate([ImageRequest("x", width=1024,
                                                                      height=1024)])
        fake.fail.append(policy_violation("moderation_blocked"))
        with pytest.raises(ContentRefused):
            await engines.get("dalle").engine.agenerate([ImageRequest("x", width=1024,
                                                                      height=1024)])
        await engines.aclose()
    assert info.value.provider == "OpenAI" and "OpenAI's content policy" in str(info.value)


async def test_a_429_is_retried_after_its_retry_after_then_succeeds():
    async with images_api() as fake:
        fake.fail += [rate_limited("2"), rate_limited("0.5")]
        engines = _engines([_openai(fake.url)])
        engine = engines.get("dalle").engine
        slept = await _sleeps(engine)
        [result] = await engine.agenerate([ImageRequest("a kite", width=1024, height=1024)])
        assert slept == [2.0, 0.5] and len(result.images) == 1 and len(fake.calls) == 3
        # Past the retry budget the user hears it is busy, with when to come back.
        fake.fail += [rate_limited("1")] * 4
        with pytest.raises(EngineBusy) as info:
            await engine.agenerate([ImageRequest("a kite", width=1024, height=1024)])
        await engines.aclose()
    assert info.value.retry_after_s == 1.0 and "busy" in str(info.value)


async def test_timeouts_and_server_errors_are_clear_errors():
    async with images_api(hold=asyncio.Event()) as fake:
        engines = _engines([_openai(fake.url)])
        engine = engines.get("dalle").engine
        engine.timeout_s = 0.2
        with pytest.raises(GenerationError, match="did not answer within"):
            await engine.agenerate([ImageRequest("a", width=1024, height=1024)])
        await engines.aclose()
    async with images_api() as fake:
        engines = _engines([_openai(fake.url)])
        fake.fail.append(Failure(502))
        with pytest.raises(GenerationError, match=r"server error \(HTTP 502\)"):
            await engines.get("dalle").engine.agenerate([ImageRequest("a", width=1024,
                                                                      height=1024)])
        await engines.aclose()


async def test_a_bad_key_is_an_error_that_never_shows_the_key(caplog):
    caplog.set_level(logging.DEBUG)
    async with images_api() as fake:
        engines = _engines([_openai(fake.url)], env={"OPENAI_API_KEY": "sk-wrong-secret-value"})
        with pytest.raises(GenerationError) as info:
            await engines.get("dalle").engine.agenerate([ImageRequest("a", width=1024,
                                                                      height=1024)])
        await engines.aclose()
    assert "HTTP 401" in str(info.value)
    assert "sk-wrong-secret-value" not in str(info.value) + caplog.text
    assert "sk-wrong-secret-value" not in repr(engines.get("dalle"))


# ---- Azure OpenAI ----------------------------------------------------------------------
def _azure(url: str, **extra) -> dict:
    return {"name": "azure", "kind": "azure-openai", "endpoint": url,
            "deployment": "gpt-image-1", "api_version": "2025-04-01-preview", **extra}


async def test_azure_uses_the_deployment_url_and_the_api_key_header():
    async with images_api() as fake:
        engines = _engines([_azure(fake.url, api_key_env="AZURE_OPENAI_API_KEY")])
        [result] = await engines.get("azure").engine.agenerate(
            [ImageRequest("a boat", width=1536, height=1024)])
        fake.fail.append(azure_content_filter())
        with pytest.raises(ContentRefused, match="Azure OpenAI's content policy"):
            await engines.get("azure").engine.agenerate([ImageRequest("x", width=1024,
                                                                      height=1024)])
        await engines.aclose()
    call = fake.calls[0]
    assert call.path == "/openai/deployments/gpt-image-1/images/generations"
    assert call.query == {"api-version": "2025-04-01-preview"}
    assert call.headers["api-key"] == AZURE_KEY and "Authorization" not in call.headers
    assert "model" not in call.body and result.images[0].size == (1536, 1024)


async def test_azure_with_entra_sends_a_bearer_token():
    async def token_headers() -> dict[str, str]:
        return {"Authorization": "Bearer entra-token"}

    async with images_api() as fake:
        engines = _engines([_azure(fake.url, auth="entra")], env={},
                           entra=lambda spec: token_headers)
        await engines.get("azure").engine.agenerate([ImageRequest("a", width=1024,
                                                                  height=1024)])
        await engines.aclose()
    assert fake.calls[0].headers["Authorization"] == "Bearer entra-token"


# ---- ComfyUI -----------------------------------------------------------------------------
def _comfy(url: str, **extra) -> dict:
    return {"name": "comfy", "kind": "comfyui", "base_url": url,
            "workflow": "comfyui/txt2img.json", "edit_workflow": "comfyui/img2img.json",
            "steps": 3, **extra}


async def test_comfyui_runs_the_workflow_with_progress_previews_and_the_placeholders_filled():
    async with comfyui() as fake:
        engines = _engines([_comfy(fake.url)])
        engine = engines.get("comfy").engine
        seen: list[StepInfo] = []
        previews: list = []

        def on_step(info: StepInfo) -> None:
            seen.append(info)
            previews.append(info.previews())

        req = ImageRequest("a lighthouse at dusk", n=2, width=768, height=512, steps=3,
                           seed=41, negative_prompt="fog")
        [result] = await engine.agenerate([req], on_step)
        await engines.aclose()
    graphs = fake.prompts
    assert len(graphs) == 2 and {g["3"]["inputs"]["seed"] for g in graphs} == {41, 42}
    g = graphs[0]
    assert g["6"]["inputs"]["text"] == "a lighthouse at dusk"
    assert g["7"]["inputs"]["text"] == "fog" and g["5"]["inputs"]["width"] == 768
    assert g["3"]["inputs"]["steps"] == 3 and g["3"]["inputs"]["model"] == ["4", 0]
    assert [i.total for i in seen] == [3] * len(seen) and max(i.step for i in seen) == 3
    assert any(p is not None and len(p) == 2 for p in previews)  # decoded preview frames
    assert result.seeds == [41, 42] and [im.size for im in result.images] == [(768, 512)] * 2
    caps = engine.capabilities
    assert caps.seeds and caps.edits and caps.negative_prompt and caps.previews


async def test_comfyui_edits_upload_the_picture_and_use_the_edit_workflow():
    async with comfyui() as fake:
        engines = _engines([_comfy(fake.url)])
        source = Image.new("RGB", (512, 512), (10, 200, 10))
        req = ImageRequest("at night", width=512, height=512, steps=3, init_image=source,
                           strength=0.4)
        [result] = await engines.get("comfy").engine.agenerate([req])
        await engines.aclose()
    [name] = fake.uploads
    [graph] = fake.prompts
    assert graph["10"]["inputs"]["image"] == name and graph["3"]["inputs"]["denoise"] == 0.4
    assert len(result.images) == 1


async def test_comfyui_failures_and_cancellation():
    async with comfyui(fail_with="CUDA out of memory") as fake:
        engines = _engines([_comfy(fake.url)])
        engine = engines.get("comfy").engine
        with pytest.raises(GenerationError, match="CUDA out of memory"):
            await engine.agenerate([ImageRequest("a", width=512, height=512, steps=3)])
        fake.hold_at = 2
        task = asyncio.ensure_future(engine.agenerate(
            [ImageRequest("b", width=512, height=512, steps=3)]))
        await asyncio.wait_for(fake.at_hold.wait(), 10)
        task.cancel()  # what the runner does when the job's owner cancels it
        with pytest.raises(asyncio.CancelledError):
            await task
        await engines.aclose()
    pid = fake.deletes[-1]["delete"][0]
    assert {"prompt_id": pid} in fake.interrupts  # the run was interrupted and dequeued


# ---- the engines file --------------------------------------------------------------------
@pytest.mark.parametrize("toml, needle", [
    ('[[engine]]\nname = "x"\nkind = "dalle"\n', 'engine 1 (\'x\'): kind: must be one of'),
    ('[[engine]]\nname = "x"\nkind = "openai"\napi_key_env = "K"\n',
     "engine 1 ('x'): model: required for kind 'openai'"),
    ('[[engine]]\nname = "x"\nkind = "diffusers"\nsteps = "four"\n',
     "engine 1 ('x'): steps: must be a whole number"),
    ('[[engine]]\nname = "x"\nkind = "diffusers"\ncolour = 1\n',
     "engine 1 ('x'): colour: not an option of kind 'diffusers'"),
    ('[[engine]]\nname = "x"\nkind = "diffusers"\n[[engine]]\nname = "x"\nkind = "diffusers"\n',
     "engine 2: name: 'x' is used twice"),
    ('[[engine]]\nname = "x"\nkind = "openai"\nmodel = "dall-e-3"\napi_key_env = "NOPE"\n',
     "api_key_env: the environment variable NOPE is not set"),
    ('[[engine]]\nname = "x"\nkind = "comfyui"\nbase_url = "http://h:8188"\n'
     'workflow = "missing.json"\n', "workflow: no file at"),
    ('[[engine]]\nname = "Bad Name"\nkind = "diffusers"\n', "engine 1: name:"),
    ('engine = 3\n', "no [[engine]] tables"),
    ('[[engine]\n', "not valid TOML"),
])
def test_a_bad_engines_file_names_the_entry_and_the_field(tmp_path, toml, needle):
    path = tmp_path / "engines.toml"
    path.write_text(toml)
    with pytest.raises(EnginesFileError) as info:
        load_engines_file(path, {"K": "secret-value"})
    assert needle in str(info.value) and "secret-value" not in str(info.value)


def test_the_example_engines_file_and_workflows_load():
    file = load_engines_file(DEPLOY / "engines.example.toml", {})
    assert [e.name for e in file.engines] == ["demo", "demo-8"]
    assert file.engines[1].option("steps") == 8 and file.arena["entries"] == ["demo", "demo-8"]
    from imaging.engines.comfyui_workflow import Workflow

    assert {"prompt", "seed", "width"} <= Workflow.load(DEPLOY / "comfyui/txt2img.json").used
    assert "image" in Workflow.load(DEPLOY / "comfyui/img2img.json", edit=True).used


# ---- a remote engine behind the runner -----------------------------------------------------
async def test_a_remote_engine_queues_fairly_within_its_concurrency_and_cancels_at_once():
    from imaging.jobs import ImageJob, JobCancelled, LocalJobRunner

    async with images_api(hold=asyncio.Event()) as fake:
        engines = _engines([_openai(fake.url, "dall-e-2", max_concurrency=2)])
        runner = LocalJobRunner(engines.get("dalle").engine)

        def job(user: str, prompt: str) -> ImageJob:
            return ImageJob(ImageRequest(prompt, width=512, height=512), user)

        greedy = [await runner.submit(job("greedy", f"g{i}")) for i in range(4)]
        other = await runner.submit(job("other", "o0"))
        while len(fake.calls) < 2:  # two in flight: max_concurrency
            fake.arrived.clear()
            await asyncio.wait_for(fake.arrived.wait(), 10)
        assert fake.in_flight == 2 and runner.queue_length == 3
        # The other user's one job goes next, before the greedy user's second.
        assert {c.body["prompt"] for c in fake.calls} == {"g0", "o0"}
        assert await runner.cancel(greedy[0].id)  # a running remote call stops at once
        with pytest.raises(JobCancelled):
            await greedy[0].result()
        fake.hold.set()
        assert len((await other.result()).images) == 1
        for h in greedy[1:]:
            assert len((await h.result()).images) == 1
        await runner.close()
        await engines.aclose()
    prompts = [c.body["prompt"] for c in fake.calls]  # two workers: pairs may arrive swapped
    assert set(prompts[:2]) == {"g0", "o0"} and prompts[2] == "g1"
    assert set(prompts[3:]) == {"g2", "g3"}
