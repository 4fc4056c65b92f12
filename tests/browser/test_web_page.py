"""The web chat as a person uses it, in headless Chromium: a whole chat, reload, upload,
cancel, a phone-sized dark page; never a console error or an outside request."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from imaging.canvas import Region, box_mask
from imaging.canvas.metrics import outside_change
from tests.support.engines import Steered

expect = pytest.importorskip("playwright.async_api").expect

PROMPT = "a red heart on a blue background"


async def _send(page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


def _results(page):
    return page.locator(".msg.easel figure")


async def _pictures_loaded(page) -> None:
    """Every picture on the page has arrived: a reload before that aborts its request,
    which the tab reports as a failed load."""
    await page.wait_for_function(
        "() => [...document.images].filter(i => i.getAttribute('src'))"
        ".every(i => i.complete)")


async def test_a_whole_chat_with_edit_vary_undo_copy_and_download(
        app_factory, settings_factory, open_tab, screenshots: Path):
    running = await app_factory(settings_factory())
    tab = await open_tab(running.url + "/", permissions=["clipboard-read", "clipboard-write"])
    page = tab.page
    await expect(page.get_by_role("textbox", name="Message")).to_be_focused()

    # Shift+Enter is a new line, not a message.
    await page.fill("#text", "a red heart")
    await page.press("#text", "Shift+Enter")
    assert await page.input_value("#text") == "a red heart\n"
    await expect(page.locator(".msg")).to_have_count(0)

    await _send(page, PROMPT)
    await expect(_results(page)).to_have_count(1)
    # The "working on it" message turned into the picture: one answer, not two.
    await expect(page.locator(".msg.easel")).to_have_count(1)
    await expect(page.locator(".msg.easel img").first).to_have_js_property("complete", True)
    await page.screenshot(path=screenshots / "chat-first-picture.png", full_page=True)

    page.once("dialog", lambda d: asyncio.ensure_future(d.accept("make it green")))
    await page.get_by_role("button", name="Edit…").last.click()
    await expect(_results(page)).to_have_count(2)
    await page.get_by_role("button", name="Vary").last.click()
    await expect(_results(page)).to_have_count(3)
    await page.get_by_role("button", name="Undo").last.click()
    await expect(_results(page)).to_have_count(4)

    last = page.locator(".msg.easel").last
    await last.locator("summary", has_text="Prompt used").click()
    prompt = await last.locator(".prompt").inner_text()
    await last.get_by_role("button", name="Copy prompt").click()
    assert await page.evaluate("navigator.clipboard.readText()") == prompt
    href = await last.get_by_role("link", name="Download").first.get_attribute("href")
    assert href and href.startswith("/images/")
    await page.screenshot(path=screenshots / "chat-edit-vary-undo.png", full_page=True)
    assert tab.errors == []


async def test_a_reload_brings_the_conversation_back(
        app_factory, settings_factory, open_tab, screenshots: Path):
    running = await app_factory(settings_factory())
    tab = await open_tab(running.url + "/")
    page = tab.page
    await _send(page, PROMPT)
    await expect(_results(page)).to_have_count(1)
    await _pictures_loaded(page)
    await page.reload()
    await expect(_results(page)).to_have_count(1)
    await expect(page.locator(".msg.you")).to_have_text([PROMPT])
    await expect(page.get_by_role("button", name="Vary")).to_have_count(1)
    await page.screenshot(path=screenshots / "chat-after-reload.png", full_page=True)
    assert tab.errors == []


async def test_a_picture_uploaded_through_the_file_input_is_edited(
        app_factory, settings_factory, open_tab, tmp_path: Path):
    running = await app_factory(settings_factory())
    tab = await open_tab(running.url + "/")
    page = tab.page
    photo = tmp_path / "mine.png"
    Image.new("RGB", (120, 96), (30, 160, 60)).save(photo)
    await page.set_input_files("#file", str(photo))
    await expect(page.locator("#attached")).to_be_visible()
    await _send(page, "make it a watercolour")
    await expect(_results(page)).to_have_count(1)
    await expect(page.locator(".msg.you img")).to_have_count(1)
    await expect(page.locator("#attached")).to_be_hidden()
    assert "120×96" in await page.locator("figcaption").inner_text()
    assert tab.errors == []


async def test_cancel_from_the_working_message(
        app_factory, settings_factory, open_tab, screenshots: Path):
    running = await app_factory(settings_factory())
    engine = Steered(running.services.runner.engine, hold_at=2)
    running.services.runner.engine = engine
    running.services.runner.preview_interval_s = 0  # a preview at every step from the second
    tab = await open_tab(running.url + "/")
    page = tab.page
    try:
        await _send(page, "a slow red tower")
        working = page.locator(".msg.easel").first
        await expect(working.locator("img.preview")).to_be_visible()
        await expect(working.locator("img.icon")).to_be_visible()  # the icon, not an emoji
        await page.screenshot(path=screenshots / "chat-working-preview-cancel.png",
                              full_page=True)
        await working.get_by_role("button", name="Cancel").click()
        await expect(page.locator(".msg.easel", has_text="Cancelled 1 job.")).to_have_count(1)
    finally:
        engine.release.set()
    await expect(working).to_contain_text("Cancelled — nothing was made")
    await expect(_results(page)).to_have_count(0)
    assert tab.errors == []


async def test_a_390_px_dark_page(app_factory, settings_factory, open_tab, screenshots: Path):
    running = await app_factory(settings_factory())
    tab = await open_tab(running.url + "/", viewport={"width": 390, "height": 844},
                         color_scheme="dark")
    page = tab.page
    await _send(page, "/imagine --n 4 " + PROMPT)
    await expect(_results(page)).to_have_count(4)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(18, 18, 24)"  # the dark palette
    await page.screenshot(path=screenshots / "chat-390px-dark-grid.png", full_page=True)
    assert tab.errors == []


async def test_an_arena_battle_is_voted_on_with_its_buttons(
        app_factory, settings_factory, open_tab, screenshots: Path):
    running = await app_factory(settings_factory())
    page = (await open_tab(running.url + "/")).page
    await _send(page, "/arena a yellow kite over the sea")
    battle = page.locator(".msg.easel").last
    await expect(battle.locator("figcaption")).to_have_text(["A", "B"])
    await expect(battle.locator("strong").first).to_have_text("A")  # **A** drawn as bold
    await expect(battle.get_by_text("demo")).to_have_count(0)  # the names stay hidden
    await page.screenshot(path=screenshots / "arena-battle.png", full_page=True)
    await battle.get_by_role("button", name="B is better").click()
    reveal = page.locator(".msg.easel").last
    await expect(reveal).to_contain_text("your vote counts: B is better")
    await expect(reveal.locator("strong", has_text="demo").first).to_be_visible()
    await _send(page, "/arena board")
    await expect(page.locator(".msg.easel pre").last).to_contain_text("demo:raw")


async def test_zoom_upscale_buttons_and_the_region_editor(
        app_factory, settings_factory, open_tab, screenshots: Path):
    running = await app_factory(settings_factory())
    tab = await open_tab(running.url + "/")
    page = tab.page
    await _send(page, PROMPT)
    await expect(_results(page)).to_have_count(1)
    await page.get_by_role("button", name="Zoom out 2×").last.click()
    await expect(_results(page)).to_have_count(2)
    await page.get_by_role("button", name="Pan left").last.click()
    await expect(_results(page)).to_have_count(3)
    assert "384×256" in await page.locator("figcaption").last.inner_text()
    await page.get_by_role("button", name="Upscale 2×", exact=True).last.click()
    await expect(_results(page)).to_have_count(4)
    assert "768×512" in await page.locator("figcaption").last.inner_text()

    # The region editor: drag a box over the top half, say what goes there.
    await page.get_by_role("button", name="Region…").first.click()
    await page.get_by_role("button", name="Box").click()
    paint = page.locator("canvas.paint")
    box = await paint.bounding_box()
    await page.mouse.move(box["x"] + 2, box["y"] + 2)
    await page.mouse.down()
    await page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2, steps=5)
    await page.mouse.up()
    await page.screenshot(path=screenshots / "chat-region-editor.png", full_page=True)
    await page.get_by_role("textbox", name="What to draw in the painted area").fill("a green sky")
    await page.get_by_role("button", name="Redraw region").click()
    await expect(_results(page)).to_have_count(5)
    await expect(page.locator("canvas.paint")).to_have_count(0)
    assert "256×256" in await page.locator("figcaption").last.inner_text()
    # The painted box went as the mask: the bottom half is the first picture's.
    urls = await page.locator(".msg.easel figure img").evaluate_all(
        "images => images.map(i => i.getAttribute('src'))")
    store = running.services.store
    first, last = [Image.open(io.BytesIO(await store.read(u.rsplit("/", 1)[1]))).convert("RGB")
                   for u in (urls[0], urls[-1])]
    top = box_mask(first.size, Region(0, 0, 1, 0.5))
    assert outside_change(first, last, top) <= 2 / 255
    assert tab.errors == []
