"""Finishing the jobs of a bot process that died: adopt, draw again, deliver once.

With the Ray runner every image job is recorded in Redis before it is queued, with the
turn's delivery address and what its result needs (imaging/jobs/records.py). Each bot
process renews its lease every few seconds and looks for open jobs whose owner's lease
has expired: a process that crashed, was killed or was redeployed. It adopts each one
with an atomic compare-and-set (of two live processes exactly one wins), sends the same
request (same seed, so the same picture) to the cluster again, checks and stamps the
images as the tool does, records the generation in the conversation, and delivers:

- Teams: through the stored conversation reference, replacing the "working" message;
- Discord: through the interaction webhook while its token lives, else a channel message
  with the bot token, else a logged and counted loss;
- the web chat: the conversation's history, which the page shows when it reconnects (a
  failure or a cancellation as a notice there).

Every delivery, first-hand or recovered, first claims the job id (`SET NX`), so a slow
owner and its adopter cannot both post.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, Protocol

from bot.pipeline.job_replies import failure_reply
from bot.pipeline.studio import Scope, Studio
from bot.state.conversations import ConversationStore, Notice
from bot.tasks import BackgroundTasks
from bot.turn import Reply, ReplyKind, Turn
from imaging.engine import GenerationError
from imaging.jobs import ImageJob, JobCancelled, QuotaExceeded
from imaging.jobs.queueing import QueueingRunner
from imaging.jobs.records import JobRecord, JobRecords
from tools.base import ToolError
from tools.engine_plan import Plan
from tools.image import GenerateImageTool, finish

log = logging.getLogger(__name__)

Redeliver = Callable[[dict, Reply], Awaitable[None]]


class Battles(Protocol):
    """bot/pipeline/arena_turns.py: draws a recorded battle again (the same entries and sides)."""

    async def resume_battle(self, scope: Scope, context: dict[str, Any]) -> Reply: ...
SCAN_INTERVAL_S = 2.0


class Recovery:
    def __init__(self, records: JobRecords, runner: QueueingRunner, tool: GenerateImageTool,
                 studio: Studio, conversations: ConversationStore, tasks: BackgroundTasks, *,
                 battles: Battles | None = None, scan_interval_s: float = SCAN_INTERVAL_S
                 ) -> None:
        self.records = records
        self.runner = runner
        self.tool = tool
        self.studio = studio
        self.conversations = conversations
        self.tasks = tasks
        self.battles = battles  # None: no arena here
        self.scan_interval_s = scan_interval_s
        # Channels register how they post a recovered reply as they start; the web chat's
        # is its history, written here.
        self.channels: dict[str, Redeliver] = {}
        self._active: set[str] = set()
        self.recovered = 0
        self.lost = 0

    async def run_forever(self) -> None:
        while True:
            try:
                await self.records.heartbeat()
                await self.scan()
            except Exception:  # Redis away for a moment: keep trying, jobs wait in Redis
                log.exception("job recovery scan failed")
            await asyncio.sleep(self.scan_interval_s)

    async def scan(self) -> int:
        adopted = 0
        for rec in await self.records.orphans():
            if rec.id in self._active or not await self.records.adopt(rec):
                continue
            log.warning("adopting job %s of a stopped bot process (%s, attempt %d)",
                        rec.id, rec.owner, rec.attempts + 1)
            self._active.add(rec.id)
            self.tasks.spawn(self.resume(rec), name=f"easel-recover-{rec.id}")
            adopted += 1
        return adopted

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.records.resign()

    async def resume(self, rec: JobRecord) -> None:
        try:
            if await self.records.delivered(rec.id):  # its owner posted it after all
                return
            reply = await (self._finish(rec, rec.job) if rec.job is not None else
                           self._turn(rec))
            reply.job_id = rec.id
            if not await self.records.claim(rec.id):
                log.info("job %s was delivered meanwhile; nothing to post", rec.id)
                return
            channel = rec.context.get("channel", "")
            if channel == "web":
                await self._into_history(rec, reply)
                self.recovered += 1
                return
            post = self.channels.get(channel)
            if post is None:
                self.lost += 1
                log.error("recovered job %s but no %r channel runs here to deliver it",
                          rec.id, channel)
                return
            await post(rec.context["delivery"], reply)
            self.recovered += 1
        except Exception:
            self.lost += 1
            log.exception("could not recover job %s", rec.id)
        finally:
            self._active.discard(rec.id)

    async def _into_history(self, rec: JobRecord, reply: Reply) -> None:
        """The web chat's delivery: GET /api/chat/history, which the page reads when it
        comes back. A picture is there already (recorded as a generation); a failure or
        a cancellation is kept as a notice, so the user does not wait on silence."""
        if reply.images and reply.battle_id is None:
            return
        c = rec.context
        notice = Notice(c.get("user_text", ""), reply.kind.value, reply.text,
                        images=[asdict(i) for i in reply.images], battle_id=reply.battle_id)
        await self.conversations.update(c["key"], lambda record: record.note(notice),
                                        user=c.get("user_key"))

    async def _turn(self, rec: JobRecord) -> Reply:
        """A turn of several jobs, drawn again as a whole: an arena battle."""
        c: dict[str, Any] = rec.context
        if c.get("kind") == "battle" and self.battles is not None:
            return await self.battles.resume_battle(_scope(c), c)
        log.error("cannot finish turn %s (%s) here", rec.id, c.get("kind"))
        return Reply(ReplyKind.ERROR, "Sorry, the server restarted while drawing this and "
                                      "could not finish it. Please send it again.")

    async def _finish(self, rec: JobRecord, job: ImageJob) -> Reply:
        c: dict[str, Any] = rec.context
        scope = _scope(c)
        plan = Plan(c.get("plan_engine"), bool(c.get("reproducible", True)),
                    list(c.get("notes") or []))
        try:
            if await self.records.cancelled(rec.id):  # from a process that saw it
                raise JobCancelled("cancelled before its bot process stopped")
            # The studio's context: what the picture stores is noted for the user (/forget).
            ctx = self.studio.context(scope, None, c.get("steps"), c.get("engine"))
            handle = await self.runner.submit(job, admitted=True)
            result = await handle.result()
            parent = await self.tool.store.read(c["parent_image"]) if c.get("parent_image") \
                else None
            out = finish(await self.tool.deliver(result, ctx, job.request, parent),
                         result, plan)
        except (ToolError, QuotaExceeded, JobCancelled, GenerationError) as exc:
            return failure_reply(exc, c["conversation_id"])
        parent_gen = None
        if c.get("parent_id"):
            parent_gen = (await self.conversations.load(c["key"])).find(c["parent_id"])
        return await self.studio.record_result(
            scope, out, user_text=c.get("user_text", ""), raw=bool(c.get("raw")),
            parent=parent_gen, kind=c.get("kind", "generate"), strength=c.get("strength"),
            negative=c.get("negative"))


def _scope(c: dict[str, Any]) -> Scope:
    """The turn a job record came from, as far as finishing it needs."""
    return Scope(Turn(c["channel"], c["conversation_id"], c["user_id"], "",
                      tenant_id=c.get("tenant_id")), c["key"], c["user_key"], c.get("strictness"))
