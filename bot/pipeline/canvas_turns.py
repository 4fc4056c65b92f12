"""Canvas turns: region edits, zoom out, pan and upscale of a picture of the conversation.

As commands (`/edit [N] region=x0,y0,x1,y1 …`, `/zoom`, `/pan`, `/upscale`, and a mask
drawn in the web chat) and in plain words: "make the top half a sunset sky" (an edit verb
and a positional phrase, imaging/canvas/geometry.py lists the phrases), "upscale it",
"zoom out", "extend it to the right". Each result is a new generation whose parent is the
picture it came from, so /undo goes back and follow-ups change it. Checkpoint 2 runs on
the prompt sent, as for every picture; the tools (tools/canvas.py, tools/upscale.py) check
their input before anything is queued.
"""

from __future__ import annotations

import base64
import re

from bot.pipeline import commands, replies
from bot.pipeline.image_turns import ImageTurns
from bot.pipeline.picks import take_pick
from bot.pipeline.scope import Scope
from bot.pipeline.studio import Studio, Target, pick
from bot.state.conversations import ConversationRecord, ConversationStore, Generation
from bot.turn import ProgressSink, Reply, ReplyKind, Response
from imaging.canvas import CanvasError, Region, WordRegion, region_from_words
from tools.canvas_args import PAN_SPEC, REGION_EDIT_SPEC, UPSCALE_SPEC, ZOOM_OUT_SPEC

REGION_USAGE = ("What should change there? For example "
                "`/edit region=0,0,1,0.5 a sunset sky` (x0,y0,x1,y1 as fractions 0–1).")
MASK_USAGE = "Say what to draw in the area you painted, e.g. \"a red balloon\"."
# Words that ask to change something: with a positional phrase they make a region edit;
# without one ("draw a cat on the left") a positional phrase is only part of a picture.
_CHANGE = re.compile(r"^(?:(?:please|now|ok|okay|then|and|just)[\s,]+)*(?:make|change|turn|"
                     r"paint|colou?r|fill|replace|put|add|give|set|remove|erase|redraw|fix)\b",
                     re.I)
_IT = r"(?:\s+(?:it|this|that|this one|the (?:picture|image|one)))?"
_UPSCALE = re.compile(rf"^(?:please\s+)?(?:upscale|enlarge){_IT}(?:\s+(?:by\s+)?x?(?P<factor>[24])x)?"
                      r"(?:\s+(?P<mode>subtle|creative)(?:ly)?)?\s*[.!]?$", re.I)
_ZOOM = re.compile(r"^(?:please\s+)?zoom\s+out(?:\s+(?:by\s+)?(?P<factor>1\.5|2)\s*x?)?\s*[.!]?$",
                   re.I)
_PAN = re.compile(rf"^(?:please\s+)?(?:extend|expand|pan|widen){_IT}\s+(?:(?:to|towards|on)\s+"
                  r"the\s+|)(?P<dir>left|right|top|bottom|up|down)(?:\s+side)?\s*[.!]?$", re.I)
_UPWARDS = {"top": "up", "bottom": "down"}


class CanvasTurns:
    def __init__(self, studio: Studio, image_turns: ImageTurns, store: ConversationStore
                 ) -> None:
        self.studio = studio
        self.image_turns = image_turns  # the brain's edit prompts, the conversation's engine
        self.store = store

    # ---- commands ----------------------------------------------------------------------
    async def region_command(self, scope: Scope, cmd: commands.Command) -> Response:
        """`/edit [N] region=x0,y0,x1,y1 <instruction>`."""
        try:
            region = Region.parse(cmd.options["region"])
        except CanvasError as exc:
            return Response(replies.error(str(exc)))
        if not cmd.text:
            return Response(replies.text(REGION_USAGE))
        record = await self.store.load(scope.key)
        target = pick(record, scope.turn.reference, _index(cmd))
        if isinstance(target, str):
            return Response(replies.text(target))
        return self.region(scope, record, target, cmd.text, region=str(region))

    async def mask_command(self, scope: Scope, cmd: commands.Command) -> Response:
        """A drawn mask with an instruction (the web chat's editor): a region edit."""
        assert scope.turn.mask is not None
        index, text = (_index(cmd), cmd.text) if cmd.name == "edit" else take_pick(cmd.text)
        if not text:
            return Response(replies.text(MASK_USAGE))
        record = await self.store.load(scope.key)
        target = pick(record, scope.turn.reference, index)
        if isinstance(target, str):
            return Response(replies.text(target))
        mask = base64.b64encode(scope.turn.mask).decode("ascii")
        return self.region(scope, record, target, text, mask=mask)

    async def zoom(self, scope: Scope, cmd: commands.Command) -> Response:
        factor = float(cmd.options.get("factor", "2"))
        return await self._command(scope, cmd, ZOOM_OUT_SPEC.name, {"factor": factor}, "zoom",
                                   f"Zooming out {factor:g}×")

    async def pan(self, scope: Scope, cmd: commands.Command) -> Response:
        direction = cmd.options["direction"]
        return await self._command(scope, cmd, PAN_SPEC.name, {"direction": direction}, "pan",
                                   f"Extending it {_towards(direction)}")

    async def upscale(self, scope: Scope, cmd: commands.Command) -> Response:
        factor, mode = int(cmd.options.get("factor", "2")), cmd.options.get("mode", "subtle")
        return await self._command(scope, cmd, UPSCALE_SPEC.name,
                                   {"factor": factor, "mode": mode}, "upscale",
                                   f"Upscaling {factor}× ({mode})")

    async def _command(self, scope: Scope, cmd: commands.Command, tool: str, args: dict,
                       kind: str, doing: str) -> Response:
        record = await self.store.load(scope.key)
        target = pick(record, scope.turn.reference, _index(cmd))
        if isinstance(target, str):
            return Response(replies.text(target))
        return self.canvas(scope, record, target, tool, args, kind=kind, doing=doing,
                           user_text=scope.turn.text)

    # ---- plain words -------------------------------------------------------------------
    def words(self, scope: Scope, record: ConversationRecord, text: str) -> Response | None:
        """A canvas operation said in words, or None (then the brain reads the words)."""
        if record.current is None:
            return None
        index, rest = take_pick(text.strip())
        rest = rest.strip()
        target = pick(record, scope.turn.reference, index)
        if isinstance(target, str):
            return None
        if m := _UPSCALE.match(rest):
            factor, mode = int(m["factor"] or 2), (m["mode"] or "subtle").lower()
            return self.canvas(scope, record, target, UPSCALE_SPEC.name,
                               {"factor": factor, "mode": mode}, kind="upscale",
                               doing=f"Upscaling {factor}× ({mode})", user_text=text)
        if m := _ZOOM.match(rest):
            zoom = float(m["factor"] or 2)
            return self.canvas(scope, record, target, ZOOM_OUT_SPEC.name, {"factor": zoom},
                               kind="zoom", doing=f"Zooming out {zoom:g}×", user_text=text)
        if m := _PAN.match(rest):
            direction = _UPWARDS.get(m["dir"].lower(), m["dir"].lower())
            return self.canvas(scope, record, target, PAN_SPEC.name, {"direction": direction},
                               kind="pan", doing=f"Extending it {_towards(direction)}",
                               user_text=text)
        found = _CHANGE.match(rest) and region_from_words(rest)
        if not found:
            return None
        instruction = _whole_phrase(found, rest).without(rest)
        return self.region(scope, record, target, instruction or rest, region=str(found.region),
                           user_text=text)

    # ---- doing it ----------------------------------------------------------------------
    def region(self, scope: Scope, record: ConversationRecord, target: Target,
               instruction: str, *, region: str | None = None, mask: str | None = None,
               user_text: str | None = None) -> Response:
        """Redraw a region (or a drawn mask) of `target` as the instruction says; the brain
        merges the instruction into the picture's prompt, as for any edit."""
        steps, engine = record.settings.steps, self.image_turns.engine_for(record)
        said = user_text or scope.turn.text

        async def followup(progress: ProgressSink | None) -> Reply:
            prompt, _ = await self.image_turns.edit_prompt(target.gen, instruction, engine)
            args = {"image_id": target.image_id, "prompt": prompt, "seed": target.seed,
                    "region": region, "mask_png": mask}
            return await self.run(scope, target, REGION_EDIT_SPEC.name,
                                  {k: v for k, v in args.items() if v is not None},
                                  user_text=said, kind="region", steps=steps, engine=engine,
                                  progress=progress)

        return Response(replies.working(instruction, "Editing that part:"), followup=followup,
                        typing=True)

    def canvas(self, scope: Scope, record: ConversationRecord, target: Target, tool: str,
               args: dict, *, kind: str, doing: str, user_text: str) -> Response:
        """Zoom out, pan or upscale `target`, drawn to match the picture's own prompt."""
        steps, engine = record.settings.steps, self.image_turns.engine_for(record)
        full = {"image_id": target.image_id, "prompt": _picture_prompt(target.gen),
                "seed": target.seed, **args}

        async def followup(progress: ProgressSink | None) -> Reply:
            return await self.run(scope, target, tool, full, user_text=user_text, kind=kind,
                                  steps=steps, engine=engine, progress=progress)

        number = f" image {target.index + 1}" if len(target.gen.image_ids) > 1 else ""
        return Response(Reply(ReplyKind.TEXT, f"🎨 {doing}{number}…"), followup=followup,
                        typing=True)

    async def run(self, scope: Scope, target: Target, tool: str, args: dict, *,
                  user_text: str, kind: str, steps: int | None, engine: str | None,
                  progress: ProgressSink | None) -> Reply:
        """Checkpoint 2 on the prompt sent, the tool, and the result recorded as a child of
        the picture it came from."""
        refusal = await self.studio.prompt_refusal(scope, args["prompt"])
        if refusal is not None:
            return refusal
        ctx = self.studio.context(scope, progress, steps, engine)
        result = await self.studio.run_tool(tool, args, ctx)
        if isinstance(result, Reply):
            return result
        reply = await self.studio.record_result(scope, result, user_text=user_text, raw=False,
                                                parent=target.gen, kind=kind)
        reply.job_id = ctx.job_ids[-1] if ctx.job_ids else None
        return reply


def _index(cmd: commands.Command) -> int | None:
    return int(cmd.options["index"]) if "index" in cmd.options else None


def _towards(direction: str) -> str:
    return {"up": "upwards", "down": "downwards"}.get(direction, f"to the {direction}")


def _picture_prompt(gen: Generation) -> str:
    """What the picture shows, for drawing more of it: its prompt, or for the user's own
    upload (which has none) their words or a neutral one."""
    if gen.kind != "upload" and gen.prompt.strip():
        return gen.prompt
    return gen.user_text if gen.user_text and not gen.user_text.startswith("(") else "a photo"


def _whole_phrase(found: WordRegion, text: str) -> WordRegion:
    """"on the left one", "the top part": the word after the phrase goes with it."""
    start, end = found.span
    more = re.match(r"\s+(?:one|side|part|bit)\b", text[end:], re.I)
    if more is None:
        return found
    return WordRegion(found.region, text[start:end + more.end()], (start, end + more.end()))
