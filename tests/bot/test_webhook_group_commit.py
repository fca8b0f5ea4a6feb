"""Updates posted at the same time are group-committed: every POST is answered 200 only
once its update is stored, and the stored updates are then handled once each, in order per
user."""

import asyncio
from collections import defaultdict
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.webhook import SECRET_HEADER, WEBHOOK_PATH, InboxProcessor
from tests.bot.test_webhook import SECRET, client, message, stored
from tests.broadcasts.audience import NOW

__all__ = ["client"]  # the fixture, shared with the webhook's other tests


async def test_concurrent_posts_are_all_stored_then_handled_in_order_per_user(
    client: TestClient[Any, Any], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async def post(update_id: int) -> int:
        body = message(update_id, 100 + update_id % 3, f"m{update_id}")
        answer = await client.post(WEBHOOK_PATH, json=body, headers={SECRET_HEADER: SECRET})
        return answer.status

    assert await asyncio.gather(*(post(number) for number in range(1, 41))) == [200] * 40
    assert await stored(sessionmaker) == 40

    handled: defaultdict[int, list[int]] = defaultdict(list)

    async def handle(payload: dict[str, Any]) -> None:
        handled[payload["message"]["from"]["id"]].append(payload["update_id"])

    processor = InboxProcessor(sessionmaker, handle, clock=lambda: NOW, batch=7)
    while await processor.handle_batch():
        pass
    assert processor.handled == 40
    assert dict(handled) == {
        100 + rest: [n for n in range(1, 41) if n % 3 == rest] for rest in range(3)
    }
