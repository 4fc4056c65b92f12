"""The turn pipeline, channel-neutral: Turn in, Response out.

No botbuilder or Discord imports here: channels adapt their wire formats to `Turn` and
render `Reply`. Image work is returned as a `followup` so channels can acknowledge at
once and deliver the image when it is ready.

One turn, top to bottom: `respond` parses the command (bot/pipeline/commands.py), runs checkpoint
1 on the user's words, and dispatches through `_handlers`. Words about pictures go to
bot/pipeline/image_turns.py (the brain), which hands the action to bot/pipeline/studio.py (checkpoint 2,
the image tool, the record); checkpoint 3 sits in the image tool.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.arena.entries import ArenaEntry
from bot.arena.store import ArenaStore
from bot.llm.base import Brain
from bot.pipeline import commands, replies
from bot.pipeline.arena_turns import ArenaTurns, TurnJournal
from bot.pipeline.canvas_turns import CanvasTurns
from bot.pipeline.describe_turns import DescribeTurns
from bot.pipeline.forget import JobRecordEraser, forget_everything
from bot.pipeline.history_view import history_text
from bot.pipeline.image_turns import AssistantConfig, Followup, ImageTurns
from bot.pipeline.models_view import engine_lines
from bot.pipeline.studio import Scope, Studio, Target, pick
from bot.pipeline.uploads import Uploads
from bot.pipeline.verify_view import VERIFY_USAGE, find, verify_text
from bot.state.conversations import ConversationRecord, ConversationStore, record_key, user_key
from bot.state.storage import OUTAGES
from bot.turn import MAX_TEXT_CHARS, ProgressSink, Reply, ReplyKind, Response, Turn
from imaging.engines.registry import EngineSet
from imaging.jobs import JobBoard
from imaging.provenance import Provenance
from imaging.store import ImageStore
from imaging.uploads import DecodeSlots
from safety.gate import Gate
from tools.base import DeliveredImage, ToolRegistry
from tools.keep import KeepTrying

log = logging.getLogger(__name__)

__all__ = ["Assistant", "AssistantConfig"]

Handler = Callable[[Scope, commands.Command], Awaitable[Response]]
# Commands whose words reach a model: checkpoint 1 runs on them before anything else.
_CHECKED = ("chat", "imagine", "edit", "arena")


class Assistant:
    def __init__(self, tools: ToolRegistry, brain: Brain, *, store: ConversationStore,
                 images: ImageStore, gate: Gate, jobs: JobBoard,
                 tenant_strictness: dict[str, str] | None = None,
                 config: AssistantConfig | None = None,
                 engines: EngineSet | None = None,
                 arena: tuple[ArenaStore, list[ArenaEntry]] | None = None,
                 provenance: Provenance | None = None,
                 journal: TurnJournal | None = None,
                 job_records: JobRecordEraser | None = None,
                 keep: KeepTrying | None = None) -> None:
        """`arena`: where battles are kept and what they compare (the engines file's
        `[arena]` table); None: no /arena. `journal`: battles recorded for recovery
        (the Ray runner's job records); `job_records`: where /forget deletes them.
        `keep`: how long a finished picture's record waits out a storage outage.
        `gate` is required: running without checks is `SafetyGate.disabled()`
        (`dangerously_disable_safety`), never a missing argument."""
        self.tools = tools
        self.brain = brain
        self.store = store
        self.images = images  # uploads and /forget
        self.gate = gate  # checkpoint 1 here; 2 in the studio; 3 in the image tool
        self.jobs = jobs  # /cancel and /queue
        self.engines = engines  # /models (several named engines)
        self.provenance = provenance  # /verify
        self.decodes = DecodeSlots()  # uploads and /verify decode a few at a time
        self.tenant_strictness = tenant_strictness or {}
        self.config = config or AssistantConfig()
        self.job_records = job_records
        self.studio = Studio(tools, store, gate, keep)
        self.image_turns = ImageTurns(self.studio, brain, tools, store, self.config)
        self.arena = ArenaTurns(self.studio, self.image_turns.brain, tools, store, arena[0],
                                arena[1], self.config.profiles, self.config.profile,
                                journal=journal) if arena is not None else None
        self.image_turns.battles = self.arena
        self.canvas = CanvasTurns(self.studio, self.image_turns, store)
        self.uploads = Uploads(self.studio, gate, store, images, self.decodes,
                               self.config.max_side)
        self.describe = DescribeTurns(tools, gate, self.uploads)
        self._handlers: dict[str, Handler] = {
            "help": self._help, "unknown": self._unknown, "settings": self._settings,
            "forget": self._forget, "undo": self._undo, "pick": self._pick,
            "history": self._history, "vary": self._vary, "edit": self._edit,
            "chat": self._chat, "imagine": self._imagine, "cancel": self._cancel,
            "queue": self._queue, "models": self._models, "arena": self._arena,
            "vote": self._vote, "verify": self._verify, "zoom": self.canvas.zoom,
            "pan": self.canvas.pan, "upscale": self.canvas.upscale,
            "describe": self.describe.describe,
        }

    # ---- entry point -------------------------------------------------------------
    async def respond(self, turn: Turn) -> Response:
        if len(turn.text) > MAX_TEXT_CHARS:  # read by no check and no model: said at once
            return Response(replies.error(replies.TOO_LONG))
        cmd = commands.parse(turn.text)
        scope = Scope(turn, record_key(turn), user_key(turn), self.strictness(turn))
        try:
            if cmd.name in _CHECKED and not cmd.error:
                refusal = await self._input_refusal(scope, cmd.text)
                if refusal is not None:
                    return Response(refusal)
            if turn.mask is not None and cmd.name in ("chat", "edit") and not cmd.error:
                response = await self.canvas.mask_command(scope, cmd)  # a drawn region
            elif turn.attachments and cmd.name == "chat":
                response = await self._attachment(scope, cmd.text)
            elif cmd.error and cmd.name != "unknown":
                response = Response(replies.error(cmd.error[0].upper() + cmd.error[1:] + "."))
            else:
                response = await self._handlers[cmd.name](scope, cmd)
        except OUTAGES as exc:
            log.error("storage unavailable: %s", exc)
            return Response(replies.error(replies.UNAVAILABLE))
        if response.followup is not None:
            response.followup = _guard(response.followup)
        return response

    async def history(self, turn: Turn, limit: int = 30) -> list[tuple[str, Reply]]:
        """The conversation's pictures and notices, oldest first, as (what the user said,
        the reply that showed them): what a web page shows again after a reload."""
        record = await self.store.load(record_key(turn))
        items = [(gen.created, gen.user_text, self.studio.show(gen))
                 for gen in record.generations[-limit:] if gen.kind != "upload"]
        items += [(n.created, n.user_text,
                   Reply(ReplyKind(n.kind), n.text, battle_id=n.battle_id,
                         images=[DeliveredImage(**i) for i in n.images]))
                  for n in record.notices]
        return [(user, reply) for _, user, reply in sorted(items, key=lambda i: i[0])][-limit:]

    def strictness(self, turn: Turn) -> str | None:
        """Per-tenant strictness (operator configuration), else the policy default."""
        levels = self.tenant_strictness
        return levels.get(turn.tenant_id or "") or levels.get("")  # "" = deployment default

    async def _input_refusal(self, scope: Scope, text: str) -> Reply | None:
        """Checkpoint 1: the user's own words. A blocked text reaches no model at all."""
        if not text.strip():
            return None
        verdict = await self.gate.check_text(text, "input", scope.turn.user_id,
                                             scope.strictness)
        if verdict.allowed:
            return None
        return Reply(ReplyKind.REFUSAL, self.gate.refusal_message(verdict))

    # ---- words and commands about pictures -----------------------------------------
    async def _chat(self, scope: Scope, cmd: commands.Command) -> Response:
        record = await self.store.load(scope.key)
        # "make the top half a sunset sky", "zoom out": canvas operations said in words.
        canvas = self.canvas.words(scope, record, cmd.text)
        return canvas or await self.image_turns.chat(scope, record, cmd.text)

    async def _imagine(self, scope: Scope, cmd: commands.Command) -> Response:
        record = await self.store.load(scope.key)
        return await self.image_turns.imagine(scope, record, cmd)

    async def _vary(self, scope: Scope, cmd: commands.Command) -> Response:
        record = await self.store.load(scope.key)
        return self.image_turns.vary(scope, record, _index(cmd))

    async def _edit(self, scope: Scope, cmd: commands.Command) -> Response:
        if "region" in cmd.options:
            return await self.canvas.region_command(scope, cmd)
        if not cmd.text:
            return Response(replies.text(replies.EDIT_USAGE))
        record = await self.store.load(scope.key)
        target = pick(record, scope.turn.reference, _index(cmd))
        if isinstance(target, str):
            return Response(replies.text(target))
        return self.image_turns.edit(scope, record, target, cmd.text)

    async def _attachment(self, scope: Scope, text: str) -> Response:
        gen = await self.uploads.keep(scope, text or "(attachment)")  # checkpoint 3 first
        if isinstance(gen, Reply):
            return Response(gen)
        if not text.strip():
            return Response(replies.text(replies.UPLOAD_RECEIVED))
        record = await self.store.load(scope.key)
        return self.image_turns.edit(scope, record, Target(gen, 0), text)

    # ---- the conversation itself ---------------------------------------------------
    async def _help(self, scope: Scope, cmd: commands.Command) -> Response:
        return Response(replies.text(replies.HELP_TEXT))

    async def _unknown(self, scope: Scope, cmd: commands.Command) -> Response:
        return Response(replies.unknown_command(cmd.text))

    async def _history(self, scope: Scope, cmd: commands.Command) -> Response:
        record = await self.store.load(scope.key)
        return Response(replies.text(history_text(record)))

    async def _undo(self, scope: Scope, cmd: commands.Command) -> Response:
        return Response(await self.studio.undo(scope.key))

    async def _pick(self, scope: Scope, cmd: commands.Command) -> Response:
        return Response(await self.studio.choose(scope.key, scope.turn.reference, _index(cmd)))

    async def _cancel(self, scope: Scope, cmd: commands.Command) -> Response:
        """`/cancel` stops all of the user's jobs; `/cancel ID` (the Cancel button) one."""
        user = scope.turn.user_id
        if cmd.text:
            count = int(await self.jobs.cancel(cmd.text.split()[0], user=user))
        else:
            count = await self.jobs.cancel_user(user)
        return Response(replies.text(replies.cancelled_text(count)))

    async def _queue(self, scope: Scope, cmd: commands.Command) -> Response:
        mine = await self.jobs.jobs_for(scope.turn.user_id)
        return Response(replies.text(replies.queue_text(mine, self.jobs.queue_length)))

    async def _arena(self, scope: Scope, cmd: commands.Command) -> Response:
        if self.arena is None:
            return Response(replies.text(replies.NO_ARENA))
        words = cmd.text.split()
        if words and words[0].lower() == "board":
            return await self.arena.board(" ".join(words[1:]) or None)
        return self.arena.battle(scope, cmd.text)

    async def _vote(self, scope: Scope, cmd: commands.Command) -> Response:
        if self.arena is None:
            return Response(replies.text(replies.NO_ARENA))
        return await self.arena.vote(scope, await self.store.load(scope.key), cmd.text)

    async def _verify(self, scope: Scope, cmd: commands.Command) -> Response:
        if not scope.turn.attachments or self.provenance is None:
            return Response(replies.text(VERIFY_USAGE))
        # Decoding, the watermark search and c2pa's checks: tens of ms, in a thread.
        report = await self.decodes.run(self.provenance.verify, scope.turn.attachments[0])
        record = await self.store.load(scope.key)  # this user's pictures only
        return Response(replies.text(verify_text(report, find(self.provenance, report, record))))

    async def _models(self, scope: Scope, cmd: commands.Command) -> Response:
        if self.engines is None or len(self.engines) < 2:
            name = self.engines.default.name if self.engines is not None else "the image model"
            return Response(replies.text(f"This deployment has one image engine ({name}); the "
                                         "operator can add more in the engines file "
                                         "(EASEL_ENGINES, see the README)."))
        record = await self.store.load(scope.key)
        current = self.image_turns.engine_for(record) or self.engines.default.name
        return Response(replies.text(replies.models_text(
            engine_lines(self.engines, self.jobs), current)))

    def _default_engine(self) -> str | None:
        return self.engines.default.name if self.engines is not None and \
            len(self.engines) > 1 else None

    async def _settings(self, scope: Scope, cmd: commands.Command) -> Response:
        try:
            changes = commands.parse_settings(cmd.text, self.config.limits)
        except commands.CommandError as exc:
            return Response(replies.error(str(exc)))
        if not changes:
            record = await self.store.load(scope.key)
            return Response(replies.text(replies.describe_settings(record,
                                                                   self._default_engine())))

        def apply(rec: ConversationRecord) -> None:
            for name, value in changes.items():
                setattr(rec.settings, name, value)

        rec = await self.store.update(scope.key, apply, user=scope.user_key)
        return Response(replies.text("Saved. " + replies.describe_settings(
            rec, self._default_engine())))

    async def _forget(self, scope: Scope, cmd: commands.Command) -> Response:
        return Response(replies.text(await forget_everything(
            self.store, self.images, self.job_records, scope.user_key)))


def _index(cmd: commands.Command) -> int | None:
    return int(cmd.options["index"]) if "index" in cmd.options else None


def _guard(followup: Followup) -> Followup:
    """A followup runs after the ack: a storage outage then becomes a reply, not silence."""

    async def guarded(progress: ProgressSink | None) -> Reply:
        try:
            return await followup(progress)
        except OUTAGES as exc:
            log.error("storage unavailable: %s", exc)
            return Reply(ReplyKind.ERROR, replies.UNAVAILABLE)

    return guarded
