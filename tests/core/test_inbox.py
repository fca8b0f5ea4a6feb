"""The webhook inbox keeps what a user sent only until it is handled: a handled update is
emptied at once, its id kept a day so that a re-post is still recognised, then pruned."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import inbox
from core.inbox import InboundUpdate

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def message(update_id: int, text: str) -> dict[str, Any]:
    person = {"id": 7_000_333, "is_bot": False, "first_name": "Arya", "username": "no_one"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1, "date": 0, "chat": {**person, "type": "private"},
            "from": person, "text": text,
        },
    }  # fmt: skip


async def test_a_handled_update_keeps_its_id_and_nothing_of_what_was_sent(
    session: AsyncSession,
) -> None:
    await inbox.store(session, message(1, "a girl has no name"), now=NOW)
    await inbox.store(session, message(2, "not yet"), now=NOW)
    [claimed, pending] = await inbox.claim(session, now=NOW)
    assert claimed.payload["message"]["text"] == "a girl has no name"  # handled from this
    await inbox.mark_handled(session, [claimed.update_id], now=NOW)

    session.expire_all()
    stored = await session.execute(select(InboundUpdate.update_id, InboundUpdate.payload))
    rows: dict[int, dict[str, Any]] = dict(stored.all())
    assert rows[1] == {}
    assert rows[2] == pending.payload  # not handled yet: still all there

    await inbox.store(session, message(1, "a girl has no name"), now=NOW)  # Telegram re-posts
    session.expire_all()
    assert (
        await session.scalar(select(InboundUpdate.payload).where(InboundUpdate.update_id == 1))
        == {}
    )
    assert await inbox.claim(session, now=NOW + inbox.CLAIM_LEASE * 2) == [
        inbox.Claimed(2, pending.payload)
    ]  # the re-post is recognised, not handled again
    assert await inbox.prune(session, now=NOW + inbox.KEEP_HANDLED + timedelta(seconds=1)) == 1
