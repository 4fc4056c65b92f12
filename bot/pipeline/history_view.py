"""`/history`: the conversation's last few pictures, with the prompts used."""

from __future__ import annotations

import time

from bot.state.conversations import ConversationRecord


def history_text(record: ConversationRecord, limit: int = 5) -> str:
    if not record.generations:
        return "No pictures yet in this conversation."
    lines = ["Recent pictures (newest last):"]
    for g in record.generations[-limit:]:
        mark = " ← current" if g.id == record.current_id else ""
        ago = _ago(time.time() - g.created)
        what = {"edit": "edit", "vary": "variation", "upload": "your upload"}.get(g.kind, "new")
        seed = f", seed {g.seeds[0]}" if g.reproducible else f", {g.engine}"
        lines.append(f"- `{g.id}` {ago} ({what}, {len(g.image_ids)} image"
                     f"{'s' if len(g.image_ids) != 1 else ''}{seed}): "
                     f"“{_short(g.user_text, 60)}” → {_short(g.prompt, 140)}{mark}")
    return "\n".join(lines)


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ago(seconds: float) -> str:
    if seconds < 90:
        return "just now"
    if seconds < 5400:
        return f"{int(seconds // 60)} min ago"
    if seconds < 172800:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"
