"""The compose-box message extension: "Create image" from any chat's compose box.

Teams waits 5 seconds for the answer to `composeExtension/submitAction`. easel starts the
job, waits up to `wait_s` (4 s: a margin for the network) and, if the image is ready,
answers with the result card for the compose box. Otherwise the task module stays open
with a "Still working…" card whose button collects the finished image: the user sees
progress where they started, nothing half-done is ever inserted, and no answer is late.
(A card "updated later" is impossible here: until the user sends it, the card is a draft
in their compose box, which a bot cannot edit.)
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from bot.channels import teams_cards as cards
from bot.channels.teams_render import TeamsRenderer
from bot.pipeline.assistant import Assistant
from bot.tasks import BackgroundTasks
from bot.turn import Reply, ReplyKind, Turn

log = logging.getLogger(__name__)

SIZES = ["512x512", "768x512", "512x768", "768x768", "1024x1024"]
_JOB_TTL_S = 600


@dataclass(slots=True)
class _Job:
    task: asyncio.Task[Reply]
    prompt: str
    user_id: str
    created: float


class ComposeExtension:
    def __init__(self, assistant: Assistant, renderer: TeamsRenderer, tasks: BackgroundTasks,
                 *, default_size: str, max_images: int, wait_s: float = 4.0) -> None:
        self.assistant = assistant
        self.renderer = renderer
        self.tasks = tasks
        self.default_size = default_size
        self.max_images = max_images
        self.wait_s = wait_s
        self._jobs: dict[str, _Job] = {}

    def _sizes(self) -> list[str]:
        return [self.default_size] + [s for s in SIZES if s != self.default_size]

    def fetch_task(self, *, prompt: str = "", error: str = "") -> dict[str, Any]:
        card = cards.create_image_form(default_size=self.default_size, sizes=self._sizes(),
                                       max_images=self.max_images, prompt=prompt, error=error)
        return _task("Create image", card)

    async def submit(self, turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        self._expire()
        if data.get("easel") == "collect":
            job = self._jobs.get(str(data.get("job")))
            if job is None or job.user_id != turn.user_id:
                return self.fetch_task(error="That image is no longer available; please "
                                             "create it again.")
            return await self._answer(str(data["job"]), job)
        prompt = " ".join(str(data.get("prompt") or "").split())
        if not prompt:
            return self.fetch_task(error="Describe the image first.")
        size = str(data.get("size") or self.default_size)
        if size not in self._sizes():
            size = self.default_size
        try:
            count = min(self.max_images, max(1, int(float(data.get("count") or 1))))
        except (ValueError, TypeError, OverflowError):  # "many", [2], 1e999: the default
            count = 1
        compose_turn = Turn(channel=turn.channel, conversation_id=f"compose:{turn.user_id}",
                            user_id=turn.user_id, tenant_id=turn.tenant_id,
                            text=f"/imagine --n {count} --size {size} {prompt}")
        response = await self.assistant.respond(compose_turn)
        if response.followup is None:
            msg = response.immediate.text if response.immediate else "I couldn't do that."
            return self.fetch_task(prompt=prompt, error=msg)
        job_id = secrets.token_urlsafe(12)
        task = self.tasks.spawn(response.followup(None), name=f"compose-{job_id}")
        job = _Job(task=task, prompt=prompt, user_id=turn.user_id, created=time.monotonic())
        self._jobs[job_id] = job
        return await self._answer(job_id, job)

    async def _answer(self, job_id: str, job: _Job) -> dict[str, Any]:
        done, _ = await asyncio.wait({job.task}, timeout=self.wait_s)
        if not done:
            return _task("Creating image", cards.still_working_form(job_id, job.prompt))
        self._jobs.pop(job_id, None)
        try:
            reply = job.task.result()
        except Exception:
            log.exception("compose job failed")
            reply = Reply(ReplyKind.ERROR, "Sorry, that image could not be made.")
        if reply.kind is not ReplyKind.IMAGES:
            return self.fetch_task(prompt=job.prompt, error=reply.text)
        # The card is sent by the user, not the bot: buttons acting on easel's history
        # would not make sense there.
        card = await self.renderer.result_card(reply, with_actions=False)
        preview = {"contentType": "application/vnd.microsoft.card.thumbnail",
                   "content": {"title": "easel image", "text": job.prompt[:100]}}
        return {"composeExtension": {"type": "result", "attachmentLayout": "list",
                                     "attachments": [{**cards.attachment(card),
                                                      "preview": preview}]}}

    def _expire(self) -> None:
        now = time.monotonic()
        for job_id, job in list(self._jobs.items()):
            if now - job.created > _JOB_TTL_S:
                job.task.cancel()
                del self._jobs[job_id]


def _task(title: str, card: dict[str, Any]) -> dict[str, Any]:
    return {"task": {"type": "continue", "value": {
        "title": title, "height": "medium", "width": "medium", "card": cards.attachment(card)}}}
