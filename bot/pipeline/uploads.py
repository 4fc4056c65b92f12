"""A picture a user attaches: decoded in a thread, checked (checkpoint 3, as generated
pictures are), noted for /forget, stored, and recorded as an upload generation, so
follow-ups ("make it a watercolour", /describe, /edit) act on it."""

from __future__ import annotations

from dataclasses import dataclass

from bot.pipeline import replies
from bot.pipeline.scope import Scope
from bot.pipeline.studio import Studio
from bot.state.conversations import ConversationStore, Generation
from bot.turn import Reply, ReplyKind
from imaging.store import ImageStore, new_image_id
from imaging.uploads import DecodeSlots, UploadError, prepare_upload
from safety.gate import Gate


@dataclass(slots=True)
class Uploads:
    studio: Studio
    gate: Gate
    store: ConversationStore
    images: ImageStore
    decodes: DecodeSlots
    max_side: int

    async def keep(self, scope: Scope, user_text: str) -> Generation | Reply:
        """The turn's first attachment as a generation, or the reply that refuses it."""
        try:  # in a thread (tens of ms for a photo), a bounded number at once
            image = await self.decodes.run(prepare_upload, scope.turn.attachments[0],
                                           self.max_side)
        except UploadError as exc:
            return replies.error(str(exc))
        [verdict] = await self.gate.check_images([image], scope.turn.user_id, scope.strictness)
        if not verdict.allowed:
            return Reply(ReplyKind.REFUSAL, self.gate.refusal_message(verdict))
        # Noted for the user before it is stored: a /forget at any moment finds it.
        image_id = new_image_id()
        await self.store.own(scope.user_key, "image", [image_id])
        stored = await self.images.save(image, image_id)
        return await self.studio.upload(scope, stored.image_id, stored.width, stored.height,
                                        user_text=user_text)
