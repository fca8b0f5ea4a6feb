"""`planner.place` (what previews show) against `plan_run` (what a run does), the reference:
the same target, variant and exclusion for every subscriber, planning nothing itself."""

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Campaign, Delivery, Run
from broadcasts.planner import place, plan_run
from core.models import Subscriber, SubscriberStatus
from segments.saved import save_segment
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from, sent_earlier_to

# Spanish speakers first, then Madrid (a rule most subscribers have no value for: NULL),
# then everyone else; a holdout, a split and a cap to agree on.
CAMPAIGN = """
name: mixed
holdout: 20
audience:
  - segment: spanish
    variants:
      - {name: a, split: 30, text: "Hola A"}
      - {name: b, split: 70, text: "Hola B"}
  - query: city = Madrid
    label: madrid
    text: "Madrid"
default:
  variants:
    - {name: x, split: 50, text: "X"}
    - {name: y, split: 50, text: "Y"}
"""


async def _audience(session: AsyncSession) -> list[int]:
    await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)
    ids = await add_subscribers(session, 60, first_id=1, language="es")
    ids += await add_subscribers(session, 60, first_id=100, language="en")
    ids += await add_subscribers(session, 5, first_id=500, status=SubscriberStatus.BLOCKED)
    madrid = select(Subscriber.id).where(Subscriber.telegram_id.between(90, 130))
    await session.execute(
        update(Subscriber).where(Subscriber.id.in_(madrid.scalar_subquery())).values(city="Madrid")
    )
    await sent_earlier_to(session, 10, hours_ago=1)  # capped at 1 per 24 h
    return ids


async def _runs(session: AsyncSession, campaign: Campaign) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Run).where(Run.campaign_id == campaign.id)
    )
    return count or 0


async def test_place_agrees_with_the_run_for_every_subscriber(session: AsyncSession) -> None:
    ids = await _audience(session)
    campaign = await campaign_from(session, CAMPAIGN)
    placed = await place(session, campaign=campaign, now=NOW, subscriber_ids=ids)
    assert await _runs(session, campaign) == 0  # placing plans nothing
    plan = await plan_run(session, campaign=campaign, now=NOW)
    rows = await session.execute(
        select(
            Delivery.subscriber_id, Delivery.target_id, Delivery.variant_id, Delivery.reason
        ).where(Delivery.run_id == plan.run.id)
    )
    planned = {row[0]: tuple(row[1:]) for row in rows.all()}
    assert {
        each.subscriber_id: (each.target.id, each.variant.id, each.exclusion) for each in placed
    } == planned
    reasons = {each.exclusion for each in placed}
    assert {None, "holdout", "capped", "blocked"} <= reasons
    assert {each.target.label for each in placed} == {"spanish", "madrid", "default"}


async def test_a_sample_is_members_of_each_target_who_would_get_it_first(
    session: AsyncSession,
) -> None:
    ids = await _audience(session)
    campaign = await campaign_from(session, CAMPAIGN)
    everyone = await place(session, campaign=campaign, now=NOW, subscriber_ids=ids)
    truth = {each.subscriber_id: each for each in everyone}
    sample = await place(session, campaign=campaign, now=NOW, sample=3)
    for target in campaign.targets:
        members = [each for each in sample if each.target is target]
        assert len(members) == 3
        for member in members:
            assert member.exclusion is None  # every target has people it would send to
            assert truth[member.subscriber_id].target is target
            assert truth[member.subscriber_id].variant is member.variant
