from typing import Any

from aiogram.types import TelegramObject, User

from bot.middlewares import ThrottleMiddleware


async def test_one_user_flooding_is_cut_off_while_others_go_through() -> None:
    throttle = ThrottleMiddleware(rate=1.0, burst=5)
    handled: list[int] = []

    async def handler(_event: TelegramObject, data: dict[str, Any]) -> None:
        handled.append(data["event_from_user"].id)

    flooder, neighbour = (
        User(id=1, is_bot=False, first_name="F"),
        User(id=2, is_bot=False, first_name="N"),
    )
    for _ in range(50):
        await throttle(handler, TelegramObject(), {"event_from_user": flooder})
    await throttle(handler, TelegramObject(), {"event_from_user": neighbour})

    assert handled.count(1) <= 6  # the burst, and at most one token refilled meanwhile
    assert handled.count(2) == 1
    assert throttle.dropped == 50 - handled.count(1)
