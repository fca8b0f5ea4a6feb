"""The report's windows are exact to the microsecond on both databases: an order placed
exactly 7 days after the send is attributed to it and one a microsecond later is not, a
reply exactly 48 hours after it counts and one a microsecond later does not; even for a
send at .999999 of a second (where SQLite's date functions round up), and on PostgreSQL
in a session whose time zone changes to winter time within the window."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import DeliveryStatus
from broadcasts.reports import campaign_report
from core.models import Event, EventType
from tests.broadcasts.audience import add_subscribers, campaign_from
from tests.broadcasts.reports.scenario import Purchase, add_deliveries, add_purchases, add_run

# Saturday before the last Sunday of October 2026: Europe leaves summer time in between.
SENT = datetime(2026, 10, 24, 11, 59, 59, 999999, tzinfo=UTC)
WEEK = timedelta(days=7)
TWO_DAYS = timedelta(hours=48)
TICK = timedelta(microseconds=1)
EDGES = "name: edges\ngoal: conversions\ndefault: {text: hello}\n"


async def test_windows_end_exactly_on_the_microsecond(session: AsyncSession) -> None:
    people = await add_subscribers(session, 5, first_id=501)
    on_time, late, replied, replied_late, later = people
    campaign = await campaign_from(session, EDGES)
    run = await add_run(session, campaign, started_at=SENT - timedelta(minutes=1))
    (target,) = campaign.targets
    rows = [
        (subscriber, target.id, target.variants[0].id, DeliveryStatus.SENT, None)
        for subscriber in (on_time, late, replied, replied_late)
    ]
    await add_deliveries(session, run, rows, sent_at=SENT)
    # Sent a day later: the last send's windows close after theirs, so each send's own
    # window is what keeps the late order and the late reply out.
    last = [(later, target.id, target.variants[0].id, DeliveryStatus.SENT, None)]
    await add_deliveries(session, run, last, sent_at=SENT + timedelta(days=1))
    await add_purchases(
        session,
        {"E1": on_time, "E2": late},
        [Purchase("E1", SENT + WEEK, 30.0), Purchase("E2", SENT + WEEK + TICK, 40.0)],
    )
    session.add_all(
        Event(subscriber_id=subscriber, type=EventType.MESSAGE, occurred_at=at, payload={})
        for subscriber, at in ((replied, SENT + TWO_DAYS), (replied_late, SENT + TWO_DAYS + TICK))
    )
    await session.commit()
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL TimeZone = 'Europe/Berlin'"))

    report = await campaign_report(
        session, campaign_id=campaign.id, now=SENT + 4 * WEEK, window=WEEK
    )

    totals = report.totals
    assert (totals.sent, totals.conversions, totals.converted, totals.revenue) == (5, 1, 1, 30.0)
    assert (totals.replied, totals.read) == (1, 2)
