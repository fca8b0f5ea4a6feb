"""`segbot run` split by role and in webhook mode, through the emulator: the webhook checks
its secret and runs the startup hooks (menus), a bot process answers users from the webhook
inbox, and separate bot, sender
and scheduler processes (PostgreSQL) deliver a scheduled campaign exactly once."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import runtime
from bot.process_roles import Role
from bot.webhook import SECRET_HEADER, WEBHOOK_PATH
from broadcasts.models import Campaign, CampaignStatus
from core.clock import utcnow
from core.errors import ConfigError
from core.settings import Settings
from telegram_emulator import Emulator
from tests.broadcasts.audience import add_subscribers, campaign_from
from tests.polling import until
from tests.ports import free_port
from tests.stopping import stop

pytestmark = pytest.mark.e2e


@asynccontextmanager
async def running(settings: Settings, role: Role, *, webhook: bool = False) -> AsyncIterator[None]:
    """One `segbot run --role ROLE` (in this process, on its own engine and port)."""
    task = asyncio.create_task(
        runtime.run(settings, role=role, webhook=webhook, handle_signals=False)
    )
    try:
        yield
        if task.done():
            task.result()
    finally:
        await stop(task)


def on_own_port(settings: Settings) -> Settings:
    port = free_port()
    return settings.model_copy(update={"web_port": port, "public_url": f"http://127.0.0.1:{port}"})


async def test_roles_apart_are_refused_on_sqlite(bot_settings: Settings) -> None:
    if not bot_settings.is_sqlite:
        pytest.skip("the SQLite rule")
    with pytest.raises(ConfigError, match="needs PostgreSQL"):
        await runtime.run(bot_settings, role=Role.SENDER, handle_signals=False)


async def test_webhook_mode_answers_users_and_refuses_requests_without_the_secret(
    emulator: Emulator,
    bot_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    owner = 4343
    emulator.add_user(owner, first_name="Owner")
    settings = bot_settings.model_copy(update={"admin_ids": (owner,)})
    async with running(settings, Role.ALL, webhook=True):
        await emulator.send_text(4242, "/start from_webhook")
        welcome, _question = await emulator.wait_for_messages(4242, count=2, timeout=20)
        assert welcome.text is not None
        assert welcome.text.startswith("Welcome!")
        async with aiohttp.ClientSession() as http:
            url = bot_settings.public_url + WEBHOOK_PATH
            update = {"update_id": 999_999, "message": {"text": "forged"}}
            async with http.post(url, json=update) as answer:
                assert answer.status == 403
            async with http.post(url, json=update, headers={SECRET_HEADER: "guess"}) as answer:
                assert answer.status == 403
    webhooks = emulator.requests_for("setWebhook")
    assert webhooks
    # the startup hooks ran: the owner's command menu is published
    assert [r.params.get("scope") for r in emulator.requests_for("setMyCommands")] == [
        {"type": "chat", "chat_id": owner}
    ]
    assert webhooks[-1].params.get("url") == bot_settings.public_url + WEBHOOK_PATH
    assert webhooks[-1].params.get("max_connections") == 100  # the Bot API's most


async def test_bot_senders_and_schedulers_apart_deliver_a_campaign_once(
    emulator: Emulator,
    bot_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    if bot_settings.is_sqlite:
        pytest.skip("roles in separate processes need PostgreSQL")
    emulator.limits.global_per_second = 200
    settings = bot_settings.model_copy(update={"rate_limit": 100.0})
    audience = 150
    async with sessionmaker() as session:
        await add_subscribers(session, audience, first_id=1)
        for user_id in range(1, audience + 1):
            emulator.add_user(user_id, first_name=f"User{user_id}")
        campaign = await campaign_from(
            session, "name: apart\ndefault: {text: Hi}\nschedule: now\n", now=utcnow()
        )

    async def done() -> bool:
        async with sessionmaker() as session:
            status = await session.scalar(select(Campaign.status).where(Campaign.id == campaign.id))
        return status is CampaignStatus.DONE

    async with (
        running(on_own_port(settings), Role.BOT, webhook=True),
        running(on_own_port(settings), Role.SCHEDULER),
        running(on_own_port(settings), Role.SCHEDULER),  # a standby: must not fire it again
        running(on_own_port(settings), Role.SENDER),
        running(on_own_port(settings), Role.SENDER),
    ):
        await until(done, within=60, every=0.2, what="the campaign to be done")
        await emulator.send_text(4243, "/start")
        await emulator.wait_for_messages(4243, count=2, timeout=20)
    received = Counter(
        request.params.get("chat_id")
        for request in emulator.requests_for("sendMessage")
        if request.ok and request.params.get("text") == "Hi"
    )
    assert len(received) == audience
    assert set(received.values()) == {1}
