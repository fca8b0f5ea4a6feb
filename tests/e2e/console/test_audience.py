"""The Audience page in Chromium: its charts drawn, each with its counts as a table, on a
seeded audience; the subscriber search (POSTed: what was typed is in no URL) and the card
at its row id, with tagging for operators; for viewers, the charts and nothing else."""

from datetime import timedelta

import aiohttp
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import utcnow
from core.models import AuditLog, Event, EventType, Subscriber, SubscriberStatus, SubscriberTag
from crm_sync.models import Customer
from segments.models import ActivityLevel, LadderStage, RfmRun, RfmScore
from segments.saved import save_segment
from tests.e2e.console.browser import init_data, screenshot
from tests.e2e.console.conftest import OPERATOR, VIEWER, Console

pytestmark = pytest.mark.e2e
CHARTS = 5  # joined and left, sources, activity, ladder, RFM


async def seed(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Six subscribers (blog 3, ads 2, direct 1; one of them left yesterday) with activity
    levels, ladder stages and two RFM-scored customers, and two saved segments (best,
    spanish); Ana's row id."""
    now = utcnow()
    people = [  # telegram id, source, joined days ago, status
        (9001, "blog", 2, SubscriberStatus.ACTIVE),
        (9002, "blog", 2, SubscriberStatus.ACTIVE),
        (9003, "blog", 5, SubscriberStatus.UNSUBSCRIBED),
        (9004, "ads", 10, SubscriberStatus.ACTIVE),
        (9005, "ads", 10, SubscriberStatus.ACTIVE),
        (9006, None, 60, SubscriberStatus.ACTIVE),
    ]
    async with sessionmaker() as session:
        ids = list(
            await session.scalars(
                insert(Subscriber).returning(Subscriber.id),
                [
                    {"telegram_id": number, "chat_id": number, "first_name": f"User{number}",
                     "status": status, "source": source, "language_code": "en",
                     "subscribed_at": now - timedelta(days=days), "last_seen_at": now,
                     "attributes": {}}
                    for number, source, days, status in people
                ],
            )
        )  # fmt: skip
        ana = await session.get(Subscriber, ids[0])
        assert ana is not None
        ana.first_name, ana.last_name, ana.username = "Ana", "<b>Shop</b>", "ana_shop"
        ana.phone, ana.email, ana.attributes = "+34600111222", "ana@example.com", {"size": "M"}
        session.add(SubscriberTag(subscriber_id=ids[0], tag="vip", added_at=now))
        session.add(
            Event(subscriber_id=ids[2], type=EventType.UNSUBSCRIBED.value, payload={},
                  occurred_at=now - timedelta(days=1))
        )  # fmt: skip
        session.add_all(
            ActivityLevel(subscriber_id=ids[n], level=level, changed_at=now)
            for n, level in ((0, 4), (1, 1), (3, 1))
        )
        session.add_all(
            LadderStage(subscriber_id=ids[n], stage=stage, evidence_at=now, changed_at=now)
            for n, stage in ((0, 3), (1, 1))
        )
        customers = [
            Customer(source="shop", external_id=f"C{n}", subscriber_id=ids[n], orders_count=n + 1,
                     total_spent=100.0 * (n + 1), created_at=now, updated_at=now)
            for n in (0, 3)
        ]  # fmt: skip
        session.add_all(customers)
        await session.flush()
        session.add_all(
            RfmScore(customer_id=customer.id, last_ordered_at=now, frequency=1, monetary=100.0,
                     r=r, f=f, m=3, segment=segment, changed_at=now)
            for customer, (r, f, segment) in zip(
                customers, ((5, 5, "champions"), (1, 3, "at_risk")), strict=True
            )
        )  # fmt: skip
        session.add(
            RfmRun(as_of=now.date(), scored_at=now, customers=2, changed=2,
                   segments={"champions": 1, "at_risk": 1})
        )  # fmt: skip
        await session.commit()
        for name, rule in (("best", "rfm = champions"), ("spanish", "lang = es")):
            await save_segment(session, name=name, rule_text=rule, now=now)
    return ids[0]


async def table_rows(page: Page, title: str) -> list[list[str]]:
    """The cells of each row of the table under the chart titled `title`."""
    rows = page.get_by_role("region", name=title).locator("tbody tr")
    return [
        [cell.strip() for cell in await rows.nth(number).locator("td").all_inner_texts()]
        for number in range(await rows.count())
    ]


async def test_the_audience_page_draws_its_charts_with_their_counts(
    console: Console, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await seed(sessionmaker)
    page = await console.open(VIEWER, "audience")
    await expect(page.locator("#main h1")).to_have_text("Audience")
    await expect(page.locator("#main canvas[data-drawn='1']")).to_have_count(CHARTS)
    assert await table_rows(page, "Where they came from") == [
        ["blog", "3", "50.0%"],
        ["ads", "2", "33.3%"],
        ["(direct)", "1", "16.7%"],
    ]
    activity = await table_rows(page, "Activity of active subscribers")
    assert ["very_active", "1", "20.0%"] in activity
    assert ["cold", "2", "40.0%"] in activity
    assert ["not computed", "2", "40.0%"] in activity
    ladder = await table_rows(page, "Ladder of awareness")
    assert ladder[0] == ["unaware", "4", "1"]
    assert ladder[3] == ["product_aware", "1", "1"]
    assert await table_rows(page, "RFM segments") == [
        ["champions", "1", "50.0%"],
        ["at_risk", "1", "50.0%"],
    ]
    joined = await table_rows(page, "Joined and left per day, last 30 days")
    assert [cells[1:] for cells in joined] == [  # 10, 5, 2 and 1 days ago
        ["2", "0", "+2"], ["1", "0", "+1"], ["2", "0", "+2"], ["0", "1", "-1"]
    ]  # fmt: skip
    # A viewer may not look subscribers up (test_viewers_get_no_card_and_no_search).
    await expect(page.locator("#find")).to_have_count(0)
    await screenshot(page, "audience")


async def test_an_operator_finds_a_subscriber_and_tags_them_from_the_card(
    console: Console, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ana = await seed(sessionmaker)
    page = await console.open(OPERATOR, "audience")
    await page.locator("#find-who").fill("ana@example.com")
    await page.get_by_role("button", name="Find").click()
    await expect(page.locator("#main h1")).to_have_text("Ana <b>Shop</b>")
    assert page.url == f"{console.url}audience/subscribers/{ana}"  # no email in the URL
    main = page.locator("#main")
    for shown in ("@ana_shop", "+34600111222", "product_aware", "very_active",
                  "RFM champions (R5 F5 M3)", "size", "vip"):  # fmt: skip
        await expect(main).to_contain_text(shown)
    segments = main.get_by_role("region", name="Segments")
    await expect(segments).to_contain_text("best")
    await expect(segments).to_contain_text("rfm = champions")
    await expect(segments).not_to_contain_text("spanish")
    await page.locator("#new-tag").fill("summer")
    await page.get_by_role("button", name="Add tag").click()
    await expect(main.locator(".ok")).to_have_text("Tagged summer.")
    await page.get_by_role("button", name="Remove the tag vip").click()
    await expect(main.locator(".ok")).to_have_text("Removed the tag vip.")
    await expect(main.get_by_role("button", name="Remove the tag summer")).to_be_visible()
    await screenshot(page, "subscriber_card")
    async with sessionmaker() as session:
        tags = await session.scalars(
            select(SubscriberTag.tag).where(SubscriberTag.subscriber_id == ana)
        )
        assert list(tags) == ["summer"]
        audited = await session.execute(
            select(AuditLog.action, AuditLog.detail)
            .where(AuditLog.admin_user_id == OPERATOR)
            .order_by(AuditLog.id)
        )
        assert [(action, detail.get("tag")) for action, detail in audited] == [
            ("console find", None),
            ("console tag", "summer"),
            ("console untag", "vip"),
        ]


async def test_a_bad_search_or_tag_says_why_in_the_page(
    console: Console, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ana = await seed(sessionmaker)
    page = await console.open(OPERATOR, "audience")
    await page.locator("#find-who").fill("@nobody_here")
    await page.get_by_role("button", name="Find").click()
    await expect(page.locator("#find-error")).to_contain_text(
        "No subscriber matches '@nobody_here'"
    )
    await page.goto(f"{console.url}audience/subscribers/{ana}")
    await page.locator("#new-tag").fill("two words")
    await page.get_by_role("button", name="Add tag").click()
    await expect(page.locator("#tag-error")).to_contain_text("without spaces")


async def test_viewers_get_no_card_and_no_search(
    console: Console, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ana = await seed(sessionmaker)
    signed = {"X-Telegram-Init-Data": init_data(VIEWER), "HX-Request": "true"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{console.url}audience/subscribers/{ana}", headers=signed) as answer:
            assert answer.status == 403
            assert "ana@example.com" not in await answer.text()
        async with http.get(f"{console.url}audience", headers=signed) as answer:
            csrf = answer.headers["X-CSRF-Token"]
        changed = {**signed, "X-CSRF-Token": csrf}
        async with http.post(
            f"{console.url}audience/search", data={"subscriber": "@ana_shop"}, headers=changed
        ) as answer:
            assert answer.status == 403
        async with http.post(
            f"{console.url}audience/subscribers/{ana}/tags", data={"tag": "x"}, headers=changed
        ) as answer:
            assert answer.status == 403
