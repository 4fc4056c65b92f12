"""Battles and votes in Redis: atomic one-vote-per-user, shared by every server process.

Keys (all under the prefix passed in, e.g. `easel:<app id>:arena:`):
- `battle:{<id>}` a hash: `data` (the battle's JSON), `state`, `void_reason`;
- `votes:{<id>}` a hash: user id -> the vote's JSON;
- `battles` a sorted set of battle ids scored by creation time (the board's listing).

The braces are a Redis Cluster hash tag: a battle's two keys live in one slot, so the
vote script may touch both. The vote is one Lua script (check the battle exists and is not
void, HSETNX the user's vote, mark the battle decided): two concurrent votes of one user,
from any number of processes, cannot both be accepted, and a vote cannot slip in after a
void. Nothing here expires: the board is the long-term record.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from bot.arena.model import Battle, BattleState, BattleVotes, Choice, Vote
from bot.arena.store import VoteOutcome, VoteResult

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.typing import EncodableT, FieldT

log = logging.getLogger(__name__)

__all__ = ["RedisArenaStore"]

# KEYS: battle hash, votes hash. ARGV: user id, vote JSON.
_VOTE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'unknown' end
if state == 'void' then return 'void' end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 'already' end
if state == 'open' then redis.call('HSET', KEYS[1], 'state', 'decided') end
return 'ok'
"""

# KEYS: battle hash. ARGV: reason. Only an existing battle can be voided (HSET would
# otherwise create a husk without data).
_VOID = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'void', 'void_reason', ARGV[1])
return 1
"""

_OUTCOMES = {"ok": VoteOutcome.ACCEPTED, "already": VoteOutcome.ALREADY_VOTED,
             "void": VoteOutcome.VOID, "unknown": VoteOutcome.UNKNOWN}

_LIST_CHUNK = 500  # battles per pipeline round trip when listing the board


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class RedisArenaStore:
    def __init__(self, client: Redis, *, prefix: str, owns_client: bool = False) -> None:
        self._r = client
        self._prefix = prefix + "arena:"
        self._owns_client = owns_client
        self._vote_script = client.register_script(_VOTE)
        self._void_script = client.register_script(_VOID)

    def _battle_key(self, battle_id: str) -> str:
        return f"{self._prefix}battle:{{{battle_id}}}"

    def _votes_key(self, battle_id: str) -> str:
        return f"{self._prefix}votes:{{{battle_id}}}"

    @property
    def _index_key(self) -> str:
        return self._prefix + "battles"

    async def save_battle(self, battle: Battle) -> None:
        data = battle.to_dict()
        mapping: dict[FieldT, EncodableT] = {"data": json.dumps(data, ensure_ascii=False), "state": battle.state.value,
                   "void_reason": battle.void_reason or ""}
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self._battle_key(battle.id), mapping=mapping)
            pipe.zadd(self._index_key, {battle.id: battle.created})
            await pipe.execute()

    @staticmethod
    def _decode_battle(raw: dict[Any, Any]) -> Battle | None:
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        try:
            data = json.loads(fields["data"])
            data["state"] = fields.get("state") or data.get("state", BattleState.OPEN)
            data["void_reason"] = fields.get("void_reason") or None
            return Battle.from_dict(data)
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("arena: unreadable battle record skipped (%s)", exc)
            return None

    @staticmethod
    def _decode_votes(raw: dict[Any, Any]) -> tuple[Vote, ...]:
        votes: list[Vote] = []
        for value in raw.values():
            try:
                votes.append(Vote.from_dict(json.loads(_text(value))))
            except (KeyError, ValueError, TypeError) as exc:
                log.warning("arena: unreadable vote skipped (%s)", exc)
        return tuple(sorted(votes, key=lambda v: (v.time, v.user_id)))

    async def get_battle(self, battle_id: str) -> Battle | None:
        return self._decode_battle(await self._r.hgetall(self._battle_key(battle_id)))

    async def void_battle(self, battle_id: str, reason: str) -> Battle | None:
        done = await self._void_script(keys=[self._battle_key(battle_id)], args=[reason])
        if not int(done):
            return None
        return await self.get_battle(battle_id)

    async def record_vote(self, battle_id: str, user_id: str, choice: Choice, *,
                          now: float | None = None) -> VoteResult:
        vote = Vote(battle_id, user_id, Choice(choice), time.time() if now is None else now)
        answer = _text(await self._vote_script(
            keys=[self._battle_key(battle_id), self._votes_key(battle_id)],
            args=[user_id, json.dumps(vote.to_dict(), ensure_ascii=False)]))
        outcome = _OUTCOMES[answer]
        if outcome is VoteOutcome.UNKNOWN:
            return VoteResult(outcome)
        battle = await self.get_battle(battle_id)
        if outcome is VoteOutcome.ALREADY_VOTED:
            earlier = await self._r.hget(self._votes_key(battle_id), user_id)
            kept = Vote.from_dict(json.loads(_text(earlier))) if earlier is not None else None
            return VoteResult(outcome, battle, kept)
        if outcome is VoteOutcome.VOID:
            return VoteResult(outcome, battle, None)
        return VoteResult(outcome, battle, vote)

    async def votes(self, battle_id: str) -> tuple[Vote, ...]:
        return self._decode_votes(await self._r.hgetall(self._votes_key(battle_id)))

    async def list_battles(self, category: str | None = None) -> list[BattleVotes]:
        ids = [_text(i) for i in await self._r.zrange(self._index_key, 0, -1)]
        out: list[BattleVotes] = []
        for start in range(0, len(ids), _LIST_CHUNK):
            chunk = ids[start:start + _LIST_CHUNK]
            async with self._r.pipeline(transaction=False) as pipe:
                for battle_id in chunk:
                    pipe.hgetall(self._battle_key(battle_id))
                    pipe.hgetall(self._votes_key(battle_id))
                replies = await pipe.execute()
            for i in range(len(chunk)):
                battle = self._decode_battle(replies[2 * i])
                if battle is None or (category is not None and battle.category != category):
                    continue
                out.append(BattleVotes(battle, self._decode_votes(replies[2 * i + 1])))
        return out

    async def aclose(self) -> None:
        if self._owns_client:
            await self._r.aclose()
