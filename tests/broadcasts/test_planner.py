"""The planner: first matching target wins, exclusions are counted, variants split."""

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import (
    CampaignStatus,
    CampaignTarget,
    Delivery,
    DeliveryStatus,
    Variant,
)
from broadcasts.planner import plan_run
from core.models import SubscriberStatus
from segments.saved import save_segment
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from, sent_earlier_to

TWO_SEGMENTS = """
name: autumn
audience:
  - segment: spanish
    text: "Hola {{ first_name }}"
  - segment: russian
    variants:
      - {name: a, split: 50, text: "Привет A"}
      - {name: b, split: 50, text: "Привет B"}
default:
  text: "Hello {{ first_name }}"
"""


async def _segments(session: AsyncSession) -> None:
    await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)
    await save_segment(session, name="russian", rule_text="lang = ru", now=NOW)


async def _targets(session: AsyncSession, run_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(CampaignTarget.label, func.count())
        .join(Delivery, Delivery.target_id == CampaignTarget.id)
        .where(Delivery.run_id == run_id, Delivery.status == DeliveryStatus.QUEUED)
        .group_by(CampaignTarget.label)
    )
    return dict(rows.all())


async def test_each_subscriber_gets_the_first_matching_target(session: AsyncSession) -> None:
    await _segments(session)
    await add_subscribers(session, 30, first_id=1, language="es")
    await add_subscribers(session, 200, first_id=100, language="ru")
    await add_subscribers(session, 20, first_id=1000, language="en")
    campaign = await campaign_from(session, TWO_SEGMENTS)
    plan = await plan_run(session, campaign=campaign, now=NOW)
    assert (plan.queued, plan.excluded, plan.postponed) == (250, {}, 0)
    assert await _targets(session, plan.run.id) == {"spanish": 30, "russian": 200, "default": 20}
    assert campaign.status is CampaignStatus.RUNNING
    rows = await session.execute(
        select(Variant.name, func.count())
        .join(Delivery, Delivery.variant_id == Variant.id)
        .where(Delivery.run_id == plan.run.id)
        .group_by(Variant.name)
    )
    split = dict(rows.all())
    assert split["a"] + split["b"] == 250
    assert 80 <= split["b"] <= 120  # the russians split about 50/50


async def test_inactive_holdout_and_capped_are_excluded_and_counted(
    session: AsyncSession,
) -> None:
    await add_subscribers(session, 100, first_id=1)
    await add_subscribers(session, 3, first_id=500, status=SubscriberStatus.UNSUBSCRIBED)
    await add_subscribers(session, 2, first_id=600, status=SubscriberStatus.BLOCKED)
    await sent_earlier_to(session, 10, hours_ago=2)  # capped at 1 per 24 h
    second = await campaign_from(session, "name: second\nholdout: 20\ndefault: {text: hi}\n")
    plan = await plan_run(session, campaign=second, now=NOW)
    assert plan.excluded["unsubscribed"] == 3
    assert plan.excluded["blocked"] == 2
    assert 10 <= plan.excluded["holdout"] <= 30
    assert 0 < plan.excluded["capped"] <= 10  # the holdout takes some of them first
    assert plan.queued + sum(plan.excluded.values()) == 105


async def test_a_message_queued_by_another_campaign_counts_toward_the_cap(
    session: AsyncSession,
) -> None:
    """Two campaigns planned at the same moment: the second leaves out whoever the first
    is about to message (its run is sending), as journeys count broadcasts' queued
    messages; cancelled or finished runs' queued ones never go, and do not count."""
    await add_subscribers(session, 10)
    first = await campaign_from(session, "name: first\ndefault: {text: hi}\n")
    await plan_run(session, campaign=first, now=NOW)
    second = await campaign_from(session, "name: second\ndefault: {text: hi}\n")
    plan = await plan_run(session, campaign=second, now=NOW)
    assert (plan.queued, plan.excluded) == (0, {"capped": 10})
    roomy = await campaign_from(
        session, "name: roomy\nfrequency_cap: {messages: 2}\ndefault: {text: hi}\n"
    )
    assert (await plan_run(session, campaign=roomy, now=NOW)).queued == 10


async def test_the_holdout_is_the_same_people_every_run(session: AsyncSession) -> None:
    await add_subscribers(session, 200)
    campaign = await campaign_from(
        session, "name: weekly\nholdout: 10\nfrequency_cap: {hours: 1}\ndefault: {text: hi}\n"
    )

    async def holdout(run_id: int) -> set[int]:
        rows = await session.scalars(
            select(Delivery.subscriber_id).where(
                Delivery.run_id == run_id, Delivery.reason == "holdout"
            )
        )
        return set(rows.all())

    first = await plan_run(session, campaign=campaign, now=NOW)
    second = await plan_run(session, campaign=campaign, now=NOW + timedelta(days=7))
    assert await holdout(first.run.id) == await holdout(second.run.id) != set()


async def test_quiet_hours_postpone_to_the_local_morning(session: AsyncSession) -> None:
    await add_subscribers(session, 5, first_id=1, timezone="Asia/Tokyo")  # 21:00 there
    await add_subscribers(session, 5, first_id=10, timezone="Europe/Madrid")  # 13:00
    await add_subscribers(session, 5, first_id=20, timezone=None)  # campaign's zone: UTC
    campaign = await campaign_from(
        session,
        'name: quiet\nquiet_hours: {start: "21:00", end: "09:00"}\ndefault: {text: hi}\n',
    )
    plan = await plan_run(session, campaign=campaign, now=NOW)
    assert (plan.queued, plan.postponed) == (15, 5)
    rows = await session.execute(
        select(Delivery.not_before).where(Delivery.run_id == plan.run.id).distinct()
    )
    tokyo_morning = NOW.replace(hour=0) + timedelta(days=1)  # 09:00 JST is 00:00 UTC
    assert {moment for (moment,) in rows.all()} == {None, tokyo_morning}
