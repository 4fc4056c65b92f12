"""`/verify`: what an attached picture carries, in words (bot/pipeline/assistant.py asks).

The generation is looked up only among the asking user's own records (group chats keep
one per user), so `/verify` can never show someone else's prompt.
"""

from __future__ import annotations

import time

from bot.state.conversations import ConversationRecord, Generation
from imaging.provenance import ManifestState, Provenance, ProvenanceReport

VERIFY_USAGE = ("Attach a picture and type `/verify`: I'll say whether it carries easel's "
                "Content Credentials and watermark.")

_MANIFEST = {
    ManifestState.TRUSTED: "✅ Content Credentials: signed by easel and intact.",
    ManifestState.VALID: "✅ Content Credentials: signed by easel and intact (by a certificate "
                         "this server does not list as trusted).",
    ManifestState.TAMPERED: "⚠️ Content Credentials: present, but the picture was changed after "
                            "it was signed.",
    ManifestState.INVALID: "⚠️ Content Credentials: present but not valid.",
    ManifestState.ABSENT: "Content Credentials: none (chat apps, screenshots and re-saves "
                          "remove them; the watermark survives those).",
}


def find(provenance: Provenance, report: ProvenanceReport, record: ConversationRecord
         ) -> tuple[Generation, int] | None:
    key = report.watermark.generation_key
    if not report.watermark.this_deployment or key is None:
        return None
    image_id = provenance.find_generation(key, record.image_ids())
    for gen in record.generations:
        if image_id in gen.image_ids:
            return gen, gen.image_ids.index(image_id)
    return None


def verify_text(report: ProvenanceReport, found: tuple[Generation, int] | None) -> str:
    m, w = report.manifest, report.watermark
    lines = [_MANIFEST[m.state] if m.easel or not m.present else
             f"Content Credentials: {m.state.value}, written by {m.claim_generator or 'another tool'}."]
    if m.present and m.software_agent and m.easel:
        lines.append(f"Made with: {m.software_agent}.")
    if not w.present:
        lines.append("Watermark: none found, so easel did not make this picture (or it was "
                     "changed beyond recognition).")
    elif not w.this_deployment:
        lines.append("Watermark: present, from another easel deployment.")
    else:
        lines.append("Watermark: present: this easel made it" +
                     (" (the picture was cropped)." if w.cropped else "."))
        if found is not None:
            gen, i = found
            when = time.strftime("%d %b %Y, %H:%M UTC", time.gmtime(gen.created))
            engine = f", made with {gen.engine}" if gen.engine else ""
            lines.append(f"It is image {i + 1} of your picture “{gen.user_text[:80]}” from "
                         f"{when}{engine}.")
        else:
            lines.append("It is not one of this conversation's pictures, so I can't say more.")
    return "\n".join(lines)
