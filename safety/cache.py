"""A bounded, thread-safe LRU of text-classifier results, keyed by the policy version.

Follow-ups repeat the prompt they build on, checkpoint 2 often sees the very text
checkpoint 1 just passed (`/imagine --raw`, a rules brain that keeps the words), and retries
and buttons resend the same words.  The classifier is a pure function of the normalised
text, the rules, the head and the thresholds, so its result can be reused for the same
normalised text as long as those have not changed: the key carries a version that hashes
them (`policy_version`), so a cache never outlives the policy that filled it, even if one
were shared between processes.  Scores are cached, not decisions: strictness is applied by
the gate on every call.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable

Scored = tuple[dict[str, float], str]  # category scores and the reason for the audit log


def policy_version(parts: Iterable[str | bytes]) -> str:
    """A short digest of everything a cached score depends on."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()[:16]


class ScoreCache:
    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, Scored] = OrderedDict()
        self._lock = threading.Lock()  # classifier batches run on worker threads

    def get(self, key: Hashable) -> Scored | None:
        if self.max_entries <= 0:
            return None
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
        return dict(found[0]), found[1]  # a copy: callers may add to the scores

    def put(self, key: Hashable, value: Scored) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._entries[key] = (dict(value[0]), value[1])
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
