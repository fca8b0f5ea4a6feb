"""A run's status changed from two places at once: a marketer's pause or cancel, and the
sender finishing the run as its last message is answered. Whichever commits first, the
other sees it: a cancel in time cancels the run, a cancel too late is refused, and the
campaign never says one thing while its run says another."""

import asyncio

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Run, RunStatus
from broadcasts.planner import Plan, plan_run
from broadcasts.runs import RunStateError, cancel, finish_if_complete, pause
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from
from tests.broadcasts.test_unknowns import status_of

CAMPAIGN = "name: {name}\ndefault:\n  text: 'Hi {{{{ first_name }}}}'\n"


async def all_sent(session: AsyncSession, name: str = "sale") -> Plan:
    """A run whose every message has been answered, not yet marked done."""
    campaign = await campaign_from(session, CAMPAIGN.format(name=name))
    plan = await plan_run(session, campaign=campaign, now=NOW)
    await session.execute(
        update(Delivery)
        .where(Delivery.run_id == plan.run.id)
        .values(status=DeliveryStatus.SENT, claimed_at=NOW, sent_at=NOW)
    )
    await session.commit()
    return plan


async def test_a_cancel_between_the_senders_read_and_its_finish_cancels_the_run(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_subscribers(session, 3)
    plan = await all_sent(session)
    run = plan.run
    async with sessionmaker() as sender_side:
        read = await sender_side.get(Run, run.id)  # the sender sees it sending
        assert read is not None
        assert read.status is RunStatus.SENDING
        async with sessionmaker() as marketer:
            campaign = await marketer.get(Campaign, run.campaign_id)
            assert campaign is not None
            assert (await cancel(marketer, campaign=campaign, now=NOW)).dropped == 0

        assert not await finish_if_complete(sender_side, run=read, now=NOW)

    assert await status_of(session, plan) == (RunStatus.CANCELLED, CampaignStatus.CANCELLED)


async def test_a_pause_between_the_last_answer_and_the_finish_is_refused_as_too_late(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Nothing is left to pause: the campaign is done, not "paused" until a resume."""
    await add_subscribers(session, 3)
    plan = await all_sent(session)
    run = plan.run
    async with sessionmaker() as sender_side:
        read = await sender_side.get(Run, run.id)  # the sender sees it sending
        assert read is not None
        async with sessionmaker() as marketer:
            campaign = await marketer.get(Campaign, run.campaign_id)
            assert campaign is not None
            with pytest.raises(RunStateError, match="'sale' is not sending: it is already done"):
                await pause(marketer, campaign=campaign, now=NOW)

        assert not await finish_if_complete(sender_side, run=read, now=NOW)  # done already

    assert await status_of(session, plan) == (RunStatus.DONE, CampaignStatus.DONE)


async def test_a_cancel_or_pause_after_the_run_finished_is_refused(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_subscribers(session, 3)
    plan = await all_sent(session)
    run = plan.run
    async with sessionmaker() as marketer:
        campaign = await marketer.get(Campaign, run.campaign_id)  # read while running
        assert campaign is not None
        async with sessionmaker() as sender_side:
            read = await sender_side.get(Run, run.id)
            assert read is not None
            assert await finish_if_complete(sender_side, run=read, now=NOW)

        with pytest.raises(RunStateError, match="is not sending"):
            await pause(marketer, campaign=campaign, now=NOW)
        with pytest.raises(RunStateError, match="'sale' is already done"):
            await cancel(marketer, campaign=campaign, now=NOW)
        assert campaign.status is CampaignStatus.DONE  # the marketer's copy, read afresh

    assert await status_of(session, plan) == (RunStatus.DONE, CampaignStatus.DONE)


async def test_cancel_and_finish_at_once_agree_on_one_outcome(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_subscribers(session, 2)
    plans = [await all_sent(session, name=f"sale-{number}") for number in range(8)]

    async def cancelled(run: Run) -> bool:
        async with sessionmaker() as marketer:
            campaign = await marketer.get(Campaign, run.campaign_id)
            assert campaign is not None
            try:
                await cancel(marketer, campaign=campaign, now=NOW)
            except RunStateError:
                return False
            return True

    async def finished(run: Run) -> bool:
        async with sessionmaker() as sender_side:
            read = await sender_side.get(Run, run.id)
            assert read is not None
            return await finish_if_complete(sender_side, run=read, now=NOW)

    for plan in plans:
        cancel_took, finish_took = await asyncio.gather(cancelled(plan.run), finished(plan.run))
        assert cancel_took != finish_took  # exactly one of them
        expected = (
            (RunStatus.CANCELLED, CampaignStatus.CANCELLED)
            if cancel_took
            else (RunStatus.DONE, CampaignStatus.DONE)
        )
        assert await status_of(session, plan) == expected
