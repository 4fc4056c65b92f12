"""What easel says in words: help, usage hints and the short status lines.

Kept apart from the turn pipeline so bot/pipeline/assistant.py reads as routing, not as prose.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.state.conversations import ConversationRecord
from bot.turn import MAX_TEXT_CHARS, Reply, ReplyKind
from imaging.jobs import JobInfo

HELP_TEXT = (
    "I'm easel, I make images from your words.\n\n"
    "- describe a picture in plain words: \"draw a fox in the snow\", then refine it: "
    "\"make it darker\", \"add a red hat\", \"without the trees\", \"the second one, at night\"\n"
    "- `/imagine a lighthouse at dusk, watercolour` makes an image; I write a detailed "
    "prompt from your words and show it under the image\n"
    "- options go before the prompt: `/imagine --n 2 --size 768x512 --seed 7 a red fox`\n"
    "- `/imagine --raw …` sends your words to the model exactly as written\n"
    "- `/vary` new takes of the last prompt; `/vary 2` variations of image 2\n"
    "- `/edit 2 add a hat` changes image 2 of the last result; `/pick 2` makes image 2 the "
    "one follow-ups change; `/undo` goes back one step\n"
    "- `/edit 2 region=0,0,1,0.5 a sunset sky` redraws only that part of image 2 (x0,y0,x1,y1 "
    "as fractions of width and height, 0–1) and keeps the rest; in words: \"make the top "
    "half a sunset sky\", \"change the bottom left corner to grass\"\n"
    "- `/zoom [N] [1.5|2]` zooms out, drawing new surroundings; `/pan [N] left|right|up|down` "
    "extends the picture by half in that direction; `/upscale [N] [2x|4x] [subtle|creative]` "
    "makes it larger (subtle stays faithful, creative adds detail)\n"
    "- `/queue` shows your pictures in the making and your place in line; `/cancel` stops "
    "them\n"
    "- `/history` lists recent pictures; `/forget` deletes everything I keep about you\n"
    "- `/models` lists the image engines; `/settings model=NAME` picks one for this "
    "conversation, `/imagine --model NAME …` for one picture\n"
    "- attach a picture and type `/describe` (or say \"describe this\") for four prompts "
    "that would draw something like it, as `/imagine` lines to copy; without an attachment "
    "`/describe [N]` looks at the last picture\n"
    "- attach a picture and type `/verify` to check its Content Credentials and watermark\n"
    "- `/arena <prompt>` draws it with two hidden engines side by side: `/vote a`, `b`, "
    "`tie` or `bad`; `/arena board` shows the standings; `/settings arena=on` makes every "
    "5th picture a battle\n"
    "- `/settings` shows this conversation's defaults; `/settings raw=on n=2 size=768x512 "
    "steps=8` changes them (`reset` restores them)\n"
    "- attach a picture and say what to change to edit your own image\n"
    "- `/help` shows this message"
)
NO_ARENA = "The arena is off in this deployment."
UNAVAILABLE = ("Sorry — my memory is temporarily unavailable, so I can't do that right now. "
               "Please try again in a minute.")
IMAGINE_USAGE = "Try `/imagine a red apple on a wooden table`."
EDIT_USAGE = "What should I change? For example `/edit 2 make it darker`."
CHAT_USAGE = "Describe a picture and I'll draw it, or type `/help`."
UPLOAD_RECEIVED = ("Got your picture. Tell me what to change — \"make it a watercolour\", "
                   "\"add a hat\".")
TOO_LONG = (f"That message is too long for me: I read at most {MAX_TEXT_CHARS:,} characters. "
            "Please shorten it and send it again.")


def text(message: str) -> Reply:
    return Reply(ReplyKind.TEXT, message)


def error(message: str) -> Reply:
    return Reply(ReplyKind.ERROR, message)


def unknown_command(name: str) -> Reply:
    return text(f"I don't know the command /{name}. Try `/imagine <what to draw>`, or "
                "describe a picture in plain words. `/help` lists everything.")


def working(user_text: str, verb: str = "Working on") -> Reply:
    return text(f"🎨 {verb} “{shorten(user_text, 80)}”…")


def describe_settings(rec: ConversationRecord, default_engine: str | None = None) -> str:
    """`default_engine`: set when the deployment has several engines to choose from."""
    s = rec.settings
    model = f", model={s.model or default_engine + ' (default)'}" if default_engine else ""
    return ("Settings for this conversation: "
            f"raw={'on' if s.raw else 'off'}, n={s.n or 1}, size={s.size or 'model default'}, "
            f"steps={s.steps or 'model default'}{model}, arena={'on' if s.arena else 'off'}.")


@dataclass(frozen=True, slots=True)
class EngineLine:
    """One engine as `/models` lists it."""

    name: str
    summary: str  # what it is good at
    where: str  # "local (cuda)", "remote"
    speed: str  # measured here, or the operator's words
    sizes: str
    max_n: int
    can: tuple[str, ...]  # negative prompts, seeds, previews
    # What it does to a picture: edit, inpaint, outpaint, upscale (EngineCapabilities.operations)
    operations: tuple[str, ...] = ()


def models_text(lines: list[EngineLine], current: str) -> str:
    out = ["Image engines (the first is the default):"]
    for e in lines:
        mark = " ← this conversation" if e.name == current else ""
        can = ", ".join(e.can) if e.can else "no seeds or previews"
        does = ", ".join(("text-to-image", *e.operations))
        out.append(f"- **{e.name}**{mark}: {e.summary}. {e.where}, {e.speed}; sizes {e.sizes}; "
                   f"up to {e.max_n} per request; does {does}; {can}.")
    out.append("Pick one for this conversation with `/settings model=NAME`, or for one picture "
               "with `/imagine --model NAME …`.")
    return "\n".join(out)


def friendly_args_error(msg: str) -> str:
    """A tool's refusal of its arguments, already in words (tools/base.py `in_words`)."""
    return f"I couldn't make that picture: {msg.removeprefix('bad arguments for generate_image: ')}."


def shorten(message: str, limit: int) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


def queue_text(jobs: list[JobInfo], waiting: int) -> str:
    """`/queue`: the user's own jobs, then how busy easel is."""
    total = f"{waiting} job{'s' if waiting != 1 else ''} waiting in all."
    if not jobs:
        return f"You have no pictures in the making. {total}"
    lines = ["Your pictures in the making:"]
    for job in jobs:
        what = f"“{shorten(job.prompt, 60)}” ({job.images} image{'s' if job.images != 1 else ''})"
        if job.position is None:
            where = f"drawing, step {job.step}/{job.total}" if job.total else "starting"
        else:
            where = f"#{job.position} in line, about {round(job.eta_s or 0)} s"
        lines.append(f"- `{job.id}` {where}: {what}")
    lines.append(total + " `/cancel` stops yours.")
    return "\n".join(lines)


def cancelled_text(count: int) -> str:
    if not count:
        return "You have nothing in the making to cancel."
    return f"Cancelled {count} job{'s' if count != 1 else ''}."
