"""Hostile requests to the console over HTTP: forged or stale sign-ins, strangers and
removed admins, roles doing what they may not, and input no form would send; each gets a
4xx with a clear message, never a 500, and changes nothing."""

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.console.context import CSRF_HEADER
from broadcasts.models import Campaign
from core.models import Admin, AdminRole, AuditLog, Subscriber, SubscriberTag
from core.settings import load_settings
from segments.models import Segment, SegmentVersion
from tests.bot.console.bare import NOW, SECRET, TOKEN, console_client, init_data

OWNER, MARKETER, VIEWER, STRANGER = 7001, 7002, 7004, 7005


@pytest.fixture
async def client(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The console alone, mounted at /console, with a marketer and a viewer."""
    async with sessionmaker() as session:
        for user_id, role in ((MARKETER, AdminRole.MARKETER), (VIEWER, AdminRole.VIEWER)):
            session.add(Admin(user_id=user_id, role=role, added_by=OWNER, added_at=NOW))
        await session.commit()
    settings = load_settings(bot_token=TOKEN, secret_key=SECRET, admin_ids=(OWNER,))
    async with console_client(sessionmaker, settings) as client:
        yield client


async def signed_in(
    client: TestClient[web.Request, web.Application], user_id: int
) -> dict[str, str]:
    """The headers console.js sends for `user_id`: initData and the CSRF token."""
    headers = {"HX-Request": "true", "X-Telegram-Init-Data": init_data(user_id)}
    async with client.get("/console/", headers=headers) as answer:
        assert answer.status == 200
        return {**headers, CSRF_HEADER: answer.headers[CSRF_HEADER]}


async def added_subscriber(sessionmaker: async_sessionmaker[AsyncSession], telegram_id: int) -> int:
    """A new subscriber's id."""
    async with sessionmaker() as session:
        ann = Subscriber(
            telegram_id=telegram_id, chat_id=telegram_id, subscribed_at=NOW, last_seen_at=NOW
        )
        session.add(ann)
        await session.commit()
        return ann.id


async def saved_and_audited(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    """How many segments there are, and audit log entries."""
    async with sessionmaker() as session:
        segments = await session.scalar(select(func.count()).select_from(Segment))
        audited = await session.scalar(select(func.count()).select_from(AuditLog))
    return int(segments or 0), int(audited or 0)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/console/segments/99999999999999999999"),
        ("POST", "/console/segments/99999999999999999999/refresh"),
        ("DELETE", "/console/segments/99999999999999999999"),
    ],
)
async def test_a_segment_id_no_database_integer_holds_is_not_found(
    client: TestClient[web.Request, web.Application], method: str, path: str
) -> None:
    headers = await signed_in(client, OWNER)
    async with client.request(method, path, headers=headers) as answer:
        assert answer.status == 404


@pytest.mark.parametrize("month", ["9999-12", "0001-01"])
async def test_a_calendar_month_at_the_ends_of_time_is_refused(
    client: TestClient[web.Request, web.Application], month: str
) -> None:
    headers = await signed_in(client, VIEWER)
    async with client.get(f"/console/campaigns?month={month}", headers=headers) as answer:
        assert answer.status == 400
        assert "month is between 0002-01 and 9998-12" in await answer.text()


def _file_rule() -> FormData:
    form = FormData()
    form.add_field("name", "vip")
    form.add_field("rule", b"lang = es", filename="rule.txt")
    return form


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("application/x-www-form-urlencoded; charset=nope", b"name=vip&rule=lang", "could not"),
        ("multipart/form-data", b"name=vip", "could not be read"),
        ("multipart/form-data; boundary=x", b"name=vip", "could not be read"),
        (None, _file_rule, "a file where text goes: 'rule'"),
    ],
    ids=["unknown charset", "no boundary", "broken multipart", "a file"],
)
async def test_a_form_no_page_sends_is_refused_and_changes_nothing(
    client: TestClient[web.Request, web.Application],
    sessionmaker: async_sessionmaker[AsyncSession],
    content_type: str | None,
    body: bytes | Callable[[], FormData],
    reason: str,
) -> None:
    headers = await signed_in(client, MARKETER)
    if content_type is not None:
        headers["Content-Type"] = content_type
    data = body if isinstance(body, bytes) else body()
    before = await saved_and_audited(sessionmaker)
    async with client.post("/console/segments", headers=headers, data=data) as answer:
        assert answer.status == 400
        assert reason in await answer.text()
    assert await saved_and_audited(sessionmaker) == before


CAMPAIGN = {
    "name": "launch", "goal": "clicks", "language": "en", "holdout": "0", "cap_messages": "1",
    "cap_hours": "24", "timezone": "UTC", "when": "now", "zone": "UTC", "targets": "1",
    "t0-audience": "default", "t0-variants": "1", "t0-v0-text-en": "Hi\x00 there",
}  # fmt: skip


async def test_a_nul_character_is_refused_before_it_reaches_the_database(
    client: TestClient[web.Request, web.Application],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """PostgreSQL's text holds no NUL: saved, it was a 500 there (and kept on SQLite)."""
    ann = await added_subscriber(sessionmaker, 555)
    headers = await signed_in(client, OWNER)
    tags = f"/console/audience/subscribers/{ann}/tags"
    for path, data in (("/console/campaigns", CAMPAIGN), (tags, {"tag": "vip\x00"})):
        async with client.post(path, headers=headers, data=data) as answer:
            assert answer.status == 400
            assert "has a NUL character" in await answer.text()
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Campaign)) == 0
        assert await session.scalar(select(func.count()).select_from(AuditLog)) == 0
        assert (await session.get(Subscriber, ann)) is not None


@pytest.mark.parametrize("name", ["summer sale", "<b>vip</b>", "a/b", "x" * 65])
async def test_a_segment_name_a_campaign_could_not_target_is_refused(
    client: TestClient[web.Request, web.Application],
    sessionmaker: async_sessionmaker[AsyncSession],
    name: str,
) -> None:
    headers = await signed_in(client, MARKETER)
    before = await saved_and_audited(sessionmaker)
    form = {"name": name, "rule": "lang = es"}
    async with client.post("/console/segments", headers=headers, data=form) as answer:
        assert answer.status == 422
        assert "cannot name a segment: use 1-64 ASCII letters, digits, _ . or -" in (
            await answer.text()
        )
    assert await saved_and_audited(sessionmaker) == before


async def test_the_same_tag_given_at_once_tags_once_and_no_request_fails(
    client: TestClient[web.Request, web.Application],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ann = await added_subscriber(sessionmaker, 556)
    headers = await signed_in(client, OWNER)
    tags = f"/console/audience/subscribers/{ann}/tags"

    async def press() -> int:
        async with client.post(tags, headers=headers, data={"tag": "vip"}) as answer:
            return answer.status

    assert await asyncio.gather(*(press() for _ in range(6))) == [200] * 6
    async with sessionmaker() as session:
        tagged = await session.scalars(select(SubscriberTag.tag))
        assert list(tagged) == ["vip"]


@pytest.mark.parametrize("tag", ["\u202e", "\ufeff", "v\u200bip", "vip\x1b[31m"])
async def test_a_tag_of_characters_no_one_can_see_is_refused(
    client: TestClient[web.Request, web.Application],
    sessionmaker: async_sessionmaker[AsyncSession],
    tag: str,
) -> None:
    ann = await added_subscriber(sessionmaker, 557)
    headers = await signed_in(client, OWNER)
    tags = f"/console/audience/subscribers/{ann}/tags"
    async with client.post(tags, headers=headers, data={"tag": tag}) as answer:
        assert answer.status == 400
        assert "printable characters without spaces" in await answer.text()
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(SubscriberTag)) == 0


async def test_one_segment_saved_at_once_from_several_pages_is_saved_in_versions(
    client: TestClient[web.Request, web.Application],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    headers = await signed_in(client, MARKETER)
    rules = ["lang = es", "lang = en", "lang = fr"]

    async def save(rule: str) -> int:
        form = {"name": "spanish", "rule": rule}
        async with client.post("/console/segments", headers=headers, data=form) as answer:
            return answer.status

    assert await asyncio.gather(*(save(rule) for rule in rules)) == [200] * 3
    async with sessionmaker() as session:
        (segment,) = (await session.scalars(select(Segment))).all()
        versions = await session.scalars(
            select(SegmentVersion.version).order_by(SegmentVersion.version)
        )
        assert list(versions) == [1, 2, 3]
    assert segment.version == 3


async def test_a_campaign_confirmed_several_times_at_once_is_saved_once_and_nothing_fails(
    client: TestClient[web.Request, web.Application],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    headers = await signed_in(client, MARKETER)
    form = {
        **CAMPAIGN, "t0-v0-text-en": "Hi there", "when": "at", "day": f"{NOW.year + 1}-01-05",
        "time": "10:00",
    }  # fmt: skip

    async def confirm() -> int:
        async with client.post("/console/campaigns", headers=headers, data=form) as answer:
            return answer.status

    for _ in range(3):
        statuses = await asyncio.gather(*(confirm() for _ in range(5)))
        assert 500 not in statuses
        assert 200 in statuses
        async with sessionmaker() as session:
            named = select(func.count()).where(Campaign.name == "launch")
            assert await session.scalar(named) == 1


SLOW = (
    "{% set s = 'ab' * 6000 %}{% for i in range(10000) %}"
    "{% if s.replace('a', 'bb').upper().lower() %}{% endif %}{% endfor %}x"
)  # as slow as a message's limit lets it be


async def test_a_preview_of_many_slow_templates_stops_rendering_at_its_time_limit(
    client: TestClient[web.Request, web.Application],
) -> None:
    headers = await signed_in(client, MARKETER)
    form = {
        **CAMPAIGN, "targets": "2", "other_languages": "es,de",
        "t1-audience": "query", "t1-query": "lang = en", "t1-label": "english",
    }  # fmt: skip
    for target in range(2):
        form |= {f"t{target}-variants": "4"}
        for variant in range(4):
            form |= {
                f"t{target}-v{variant}-name": "abcd"[variant],
                f"t{target}-v{variant}-split": "25",
            }
            form |= {f"t{target}-v{variant}-text-{lang}": SLOW for lang in ("en", "es", "de")}
    async with client.post("/console/campaigns/preview", headers=headers, data=form) as answer:
        assert answer.status == 200
        page = await answer.text()
    assert "took more than 2 s of CPU time in all (a template above is slow to render)" in page
