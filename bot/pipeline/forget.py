"""`/forget`: everything easel keeps about the user goes, wherever it is stored.

The conversation store finds it all from the user (bot/state/conversations.py and
bot/state/owned.py): the records, the pictures they show and every object noted for the
user as it was stored (pictures past the history limit, uploads, arena pictures, job
records). The pictures' channel copies go with them (imaging/store.py).
"""

from __future__ import annotations

from typing import Protocol

from bot.state.conversations import ConversationStore
from imaging.store import ImageStore


class JobRecordEraser(Protocol):
    """imaging/jobs/records.py: job records (they keep the prompt and who asked)."""

    async def delete(self, record_ids: list[str]) -> int: ...


async def forget_everything(store: ConversationStore, images: ImageStore,
                            job_records: JobRecordEraser | None, user_key: str) -> str:
    """Deletes it all; returns what the user is told."""

    async def erase(found: dict[str, list[str]]) -> int:
        deleted = await images.delete(found["image"])
        if job_records is not None and found["job"]:
            await job_records.delete(found["job"])
        return deleted

    deleted = await store.forget_user(user_key, erase)
    return (f"Done: I deleted your conversation history, settings and {deleted} "
            f"image{'s' if deleted != 1 else ''}. Nothing of it is kept.")
