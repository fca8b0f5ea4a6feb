"""Duplicate and a draft's Send now on the console's campaign page, as the chat's card has
them: Duplicate saves one copy however often it is pressed within the chat's window and
leads to the copy's page; Send now asks first, with whom each target would reach, and its
Yes starts one run however often it is given. Both are audited under the chat's action
names; roles that may not run campaigns see neither, and their requests change nothing."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.console.context import CSRF_HEADER
from broadcasts.campaigns import save_campaign
from broadcasts.cloning import clone_campaign
from broadcasts.models import Campaign, CampaignStatus, Run
from broadcasts.runs import cancel
from broadcasts.spec import parse_campaign
from core.models import Admin, AdminRole, AuditLog
from core.settings import load_settings
from tests.bot.console.bare import NOW, SECRET, TOKEN, console_client, init_data
from tests.broadcasts.audience import add_subscribers

OWNER, MARKETER, OPERATOR, VIEWER = 7001, 7002, 7003, 7004
SALE = f"""
name: sale
audience:
  - query: "lang = es"
    label: spanish
    text: Hola
default: {{text: Hello}}
schedule: {{at: "{NOW.year + 1}-01-05T10:00:00Z"}}
"""
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Client]:
    """The console alone, with a marketer, an operator and a viewer."""
    async with sessionmaker() as session:
        for user_id, role in (
            (MARKETER, AdminRole.MARKETER),
            (OPERATOR, AdminRole.OPERATOR),
            (VIEWER, AdminRole.VIEWER),
        ):
            session.add(Admin(user_id=user_id, role=role, added_by=OWNER, added_at=NOW))
        await session.commit()
    settings = load_settings(bot_token=TOKEN, secret_key=SECRET, admin_ids=(OWNER,))
    async with console_client(sessionmaker, settings) as client:
        yield client


@pytest.fixture
async def sale(session: AsyncSession) -> Campaign:
    """`sale`, scheduled: three Spanish subscribers get Hola, one English one Hello."""
    await add_subscribers(session, 3, first_id=6000, language="es")
    await add_subscribers(session, 1, first_id=6100, language="en")
    return await save_campaign(session, spec=parse_campaign(SALE), now=NOW)


@pytest.fixture
async def draft(session: AsyncSession, sale: Campaign) -> Campaign:
    """`sale-copy`: a copy of `sale` as Duplicate makes it, a draft sent by hand."""
    return await clone_campaign(session, ref=sale.id, now=NOW)


async def signed_in(client: Client, user_id: int) -> dict[str, str]:
    """The headers console.js sends for `user_id`: initData and the CSRF token."""
    headers = {"HX-Request": "true", "X-Telegram-Init-Data": init_data(user_id)}
    async with client.get("/console/", headers=headers) as answer:
        assert answer.status == 200
        return {**headers, CSRF_HEADER: answer.headers[CSRF_HEADER]}


async def runs_of(sessionmaker: async_sessionmaker[AsyncSession], campaign_id: int) -> int:
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Run).where(Run.campaign_id == campaign_id)
        )
    return int(count or 0)


async def names(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(Campaign.name).order_by(Campaign.id))).all())


async def campaign_ids(sessionmaker: async_sessionmaker[AsyncSession]) -> list[int]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(Campaign.id))).all())


async def audited(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, str]]:
    """Each audit log entry's action, target and outcome, oldest first."""
    async with sessionmaker() as session:
        rows = await session.scalars(select(AuditLog).order_by(AuditLog.id))
        return [(row.action, row.detail["target"], row.detail["outcome"]) for row in rows]


async def nothing_changed(sessionmaker: async_sessionmaker[AsyncSession], draft: Campaign) -> None:
    """No run of the draft, no other copy, nothing audited."""
    assert await runs_of(sessionmaker, draft.id) == 0
    assert await names(sessionmaker) == ["sale", "sale-copy"]
    assert await audited(sessionmaker) == []


async def test_send_now_asks_with_each_targets_reach_then_one_run_however_often_yes_comes(
    client: Client, sessionmaker: async_sessionmaker[AsyncSession], draft: Campaign
) -> None:
    headers = await signed_in(client, MARKETER)
    async with client.get(f"/console/campaigns/{draft.id}", headers=headers) as answer:
        page = await answer.text()
    assert "▶ Send now" in page

    async with client.get(f"/console/campaigns/{draft.id}/send", headers=headers) as answer:
        assert answer.status == 200
        question = await answer.text()
    assert f"Send campaign #{draft.id} sale-copy now?" in question
    assert "Audience: <b>4 subscribers</b>" in question
    assert '<tr data-target="spanish"><td>spanish</td><td>3</td></tr>' in question
    assert '<tr data-target="default"><td>default</td><td>1</td></tr>' in question
    assert "✅ Yes, send now" in question
    assert await runs_of(sessionmaker, draft.id) == 0  # asking starts nothing

    yes = f"/console/campaigns/{draft.id}/send"
    first, second = await asyncio.gather(
        client.post(yes, headers=headers), client.post(yes, headers=headers)
    )
    said = {first.status: await first.text(), second.status: await second.text()}
    assert sorted(said) == [200, 409]
    async with sessionmaker() as session:
        run_id = await session.scalar(select(Run.id).where(Run.campaign_id == draft.id))
    started = f"Run {run_id} started: 4 to send. No sender is running (segbot run)"
    assert started in said[200]
    refused = f"run {run_id} of sale-copy is already sending: nothing new was started"
    assert refused in said[409]
    async with client.post(yes, headers=headers) as again:  # a third, later: still nothing
        assert again.status == 409
        assert refused in await again.text()
    assert await runs_of(sessionmaker, draft.id) == 1

    async with client.get(yes, headers=headers) as stale:  # a question on a stale page
        assert stale.status == 409
        assert "sale-copy is running, no longer a draft" in await stale.text()
    sends = [row for row in await audited(sessionmaker) if row[0] == "console campaign.send"]
    assert {target for _, target, _ in sends} == {f"campaign {draft.id}"}
    assert sorted(outcome for _, _, outcome in sends) == sorted(
        [f"ok: {started}: it waits until one starts.", refused, refused]
    )


async def test_duplicate_leads_to_the_copy_and_a_second_press_makes_no_second_copy(
    client: Client, sessionmaker: async_sessionmaker[AsyncSession], sale: Campaign
) -> None:
    headers = await signed_in(client, MARKETER)
    async with client.get(f"/console/campaigns/{sale.id}", headers=headers) as answer:
        page = await answer.text()
    assert "⧉ Duplicate" in page
    assert "▶ Send now" not in page  # scheduled: it sends itself

    press = f"/console/campaigns/{sale.id}/duplicate"
    async with client.post(press, headers=headers) as answer:
        assert answer.status == 200
        shown, moved = await answer.text(), dict(answer.headers)
    [copy_id] = [c for c in await campaign_ids(sessionmaker) if c != sale.id]
    assert moved["HX-Push-Url"] == f"/console/campaigns/{copy_id}"
    assert (moved["HX-Retarget"], moved["HX-Reswap"]) == ("#main", "innerHTML")
    assert "<h1>sale-copy</h1>" in shown
    assert "Saved a copy: sale-copy (a draft)." in shown
    assert "▶ Send now" in shown  # the copy is a draft, sent from its page

    async with client.post(press, headers=headers) as again:  # within the chat's window
        assert again.status == 200
        assert again.headers["HX-Push-Url"] == f"/console/campaigns/{copy_id}"
        told = await again.text()
    assert "Already copied as sale-copy (a draft). For another copy, press again in 10 s." in told
    assert await names(sessionmaker) == ["sale", "sale-copy"]
    target = f"campaign {sale.id}"
    assert await audited(sessionmaker) == [
        ("console campaign.duplicate", target, f"ok: campaign {copy_id} sale-copy"),
        ("console campaign.duplicate", target, f"already copied: campaign {copy_id} sale-copy"),
    ]
    async with sessionmaker() as session:
        copy = await session.get(Campaign, copy_id)
        assert copy is not None
        assert copy.status is CampaignStatus.DRAFT
    assert await runs_of(sessionmaker, copy_id) == 0


@pytest.mark.parametrize("who", [VIEWER, OPERATOR])
async def test_who_may_not_run_campaigns_sees_neither_and_their_requests_change_nothing(
    client: Client, sessionmaker: async_sessionmaker[AsyncSession], draft: Campaign, who: int
) -> None:
    headers = await signed_in(client, who)
    async with client.get(f"/console/campaigns/{draft.id}", headers=headers) as answer:
        assert answer.status == 200
        page = await answer.text()
    assert "Send now" not in page
    assert "Duplicate" not in page
    base = f"/console/campaigns/{draft.id}"
    for method, path in (("GET", "/send"), ("POST", "/send"), ("POST", "/duplicate")):
        async with client.request(method, base + path, headers=headers) as refused:
            assert refused.status == 403
            assert await refused.text() == "your role does not allow this"
    await nothing_changed(sessionmaker, draft)


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    client: Client, sessionmaker: async_sessionmaker[AsyncSession], draft: Campaign
) -> None:
    headers = await signed_in(client, MARKETER)
    del headers[CSRF_HEADER]
    for path in ("/send", "/duplicate"):
        async with client.post(f"/console/campaigns/{draft.id}{path}", headers=headers) as answer:
            assert answer.status == 403
            assert await answer.text() == "missing or wrong CSRF token"
    await nothing_changed(sessionmaker, draft)


async def test_yes_on_a_draft_cancelled_meanwhile_points_to_duplicate_not_the_command_line(
    client: Client, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession],
    draft: Campaign,
) -> None:  # fmt: skip
    headers = await signed_in(client, MARKETER)
    await cancel(session, campaign=draft, now=NOW)  # from the chat, or the command line
    async with client.post(f"/console/campaigns/{draft.id}/send", headers=headers) as answer:
        assert answer.status == 409
        said = await answer.text()
    assert "sale-copy is cancelled: a campaign is sent once; ⧉ Duplicate makes a copy" in said
    assert "segbot campaign clone" not in said
    assert await runs_of(sessionmaker, draft.id) == 0


async def test_yes_on_a_scheduled_campaign_starts_nothing(
    client: Client, sessionmaker: async_sessionmaker[AsyncSession], sale: Campaign
) -> None:
    headers = await signed_in(client, MARKETER)
    async with client.post(f"/console/campaigns/{sale.id}/send", headers=headers) as answer:
        assert answer.status == 409
        said = await answer.text()
    assert "sale is scheduled, no longer a draft: its card shows where it stands" in said
    assert await runs_of(sessionmaker, sale.id) == 0
