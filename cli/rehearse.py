"""`segbot rehearse CAMPAIGN --subscribers FILE.csv`: a campaign's run, rehearsed on people
of your own, and what each of them would receive, or why nothing.

The promise: SEGBOT_DATABASE_URL is never written and nothing goes to Telegram.
- It runs on a throwaway copy of SQLite's database, or on the --scratch-database a
  PostgreSQL user copied (cli/rehearsal_database.py).
- The Bot API is the emulator, started in this process with Telegram's limits; the
  messenger is pointed at it, whatever SEGBOT_TELEGRAM_API_BASE says. Tracked links are
  signed with a throwaway key, so a rehearsal's link never counts as a click.

On the copy, the people of the file are subscribed as /start subscribes them (and their
details set, cli/rehearsal_people.py); the run is planned by the planner, as the
scheduler plans it (targets in order, holdout, frequency cap), over the whole audience;
then only the people's messages are kept and sent at once, by the real sender over real
Bot API requests (waits for local time or quiet hours are reported, not waited).

Exit codes: 2 for a bad file or setting, 1 when a message failed or the database cannot
be used (cli.execution).
"""

import secrets
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import AppConfig
from bot.messenger import TelegramMessenger
from broadcasts.campaigns import get_campaign
from broadcasts.models import CampaignTarget, Delivery, Variant
from broadcasts.pacing import RateBudget
from broadcasts.planner import plan_run
from broadcasts.sender import BatchResult, Sender, SenderSettings
from cli.execution import (
    EXIT_FAILURE,
    config_or_exit,
    execute,
    fail,
    on_database_at,
    settings_or_exit,
)
from cli.rehearsal_database import throwaway_database
from cli.rehearsal_people import Person, add_people, read_people
from cli.rehearsal_report import Audience, Delivered, Outcome, Rehearsal, print_outcomes
from cli.tables import SafeConsole
from core.clock import utcnow
from core.errors import SegbotError
from core.settings import Settings
from telegram_emulator import Emulator

REHEARSAL_TOKEN = "1:rehearsal"  # noqa: S105  (the emulator takes any token)
out = SafeConsole(highlight=False)


class RehearsalError(SegbotError):
    """The rehearsal's run did not finish (the campaign or its audience cannot be sent)."""


def rehearse(
    campaign: Annotated[str, typer.Argument(help="The campaign's id or name.")],
    subscribers: Annotated[
        Path,
        typer.Option(
            "--subscribers",
            help=(
                "CSV of the people to rehearse on: telegram_id, first_name; optional "
                "last_name, username, language_code, phone, email, country, region, city, "
                "timezone, source, utm_*, referrer, tags (a;b); other columns are attributes."
            ),
            exists=True,
            dir_okay=False,
        ),
    ],
    scratch_database: Annotated[
        str | None,
        typer.Option(
            "--scratch-database",
            help=(
                "Rehearse on this database, a copy you may throw away (it is changed), not "
                "on a copy of SEGBOT_DATABASE_URL. Needed with PostgreSQL."
            ),
        ),
    ] = None,
) -> None:
    """Rehearse a campaign on people of your own, in the Bot API emulator, on a throwaway
    copy of the database: what each person would get, or why nothing.

    Nothing is written to SEGBOT_DATABASE_URL and nothing goes to Telegram. The people
    are subscribed in the copy, the run is planned as the scheduler plans it, and their
    messages are sent at once by the real sender to the emulator."""
    settings = settings_or_exit()
    config = config_or_exit(settings)
    try:
        people = read_people(subscribers, phone_region=config.phone_region)
    except SegbotError as error:
        fail(str(error))
    with throwaway_database(settings, scratch_database) as url:
        rehearsal = execute(_rehearse(url, campaign, people, settings, config))
    print_outcomes(out, rehearsal)
    failed = [outcome for outcome in rehearsal.outcomes if outcome.failed]
    if failed:
        fail(f"{len(failed)} of the messages failed (why: above)", EXIT_FAILURE)


async def _rehearse(
    url: str, ref: str, people: list[Person], settings: Settings, config: AppConfig
) -> Rehearsal:
    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> Rehearsal:
        return await _in_emulator(sessionmaker, ref, people, settings, config)

    return await on_database_at(url, work, upgrade_in_place=True)  # a copy: ours to migrate


async def _in_emulator(
    sessionmaker: async_sessionmaker[AsyncSession],
    ref: str,
    people: list[Person],
    settings: Settings,
    config: AppConfig,
) -> Rehearsal:
    async with sessionmaker() as session:
        await get_campaign(session, ref=ref)  # an unknown campaign stops before anything
    async with Emulator() as emulator:
        for person in people:
            profile = person.profile
            emulator.add_user(
                profile.telegram_id,
                first_name=profile.first_name or "",
                last_name=profile.last_name,
                username=profile.username,
                language_code=profile.language_code,
            )
        ids = await add_people(sessionmaker, people, now=utcnow())
        run_id, due = await _plan(sessionmaker, ref, ids.values(), config)
        await _send(sessionmaker, run_id, emulator.base_url, settings)
        async with sessionmaker() as session:
            campaign = await get_campaign(session, ref=ref)
            delivered = await _deliveries(session, run_id, due)
        outcomes = [
            Outcome(
                person=person,
                delivery=delivered.get(ids[person.profile.telegram_id]),
                messages=emulator.messages_to(person.profile.telegram_id),
            )
            for person in people
        ]
    return Rehearsal(
        campaign=campaign.name,
        audiences=tuple(_audience(target) for target in campaign.targets),
        holdout_percent=campaign.holdout_percent,
        cap=f"{campaign.cap_messages} message(s) in {campaign.cap_hours} h",
        outcomes=outcomes,
    )


async def _plan(
    sessionmaker: async_sessionmaker[AsyncSession],
    ref: str,
    subscriber_ids: Iterable[int],
    config: AppConfig,
) -> tuple[int, dict[int, datetime]]:
    """Plan the run over the whole audience, as the scheduler would; keep only the people's
    deliveries, due at once. The run, and when a real run would send those that wait."""
    ids = list(subscriber_ids)
    async with sessionmaker() as session:
        campaign = await get_campaign(session, ref=ref)
        plan = await plan_run(
            session, campaign=campaign, now=utcnow(), rfm_segments=config.rfm_names,
            best_hour=config.broadcasts.best_hour,
        )  # fmt: skip
        run_id = plan.run.id
        mine = (Delivery.run_id == run_id) & Delivery.subscriber_id.in_(ids)
        others = (Delivery.run_id == run_id) & Delivery.subscriber_id.not_in(ids)
        await session.execute(delete(Delivery).where(others))
        waiting = await session.execute(
            select(Delivery.subscriber_id, Delivery.not_before).where(mine)
        )
        due = {person: moment for person, moment in waiting.all() if moment is not None}
        await session.execute(update(Delivery).where(mine).values(not_before=None))
        await session.commit()
    return run_id, due


async def _deliveries(
    session: AsyncSession, run_id: int, due: dict[int, datetime]
) -> dict[int, Delivered]:
    """The run's deliveries by subscriber id, with their target and variant."""
    rows = await session.execute(
        select(Delivery, CampaignTarget.label, Variant.name)
        .join(CampaignTarget, CampaignTarget.id == Delivery.target_id)
        .join(Variant, Variant.id == Delivery.variant_id)
        .where(Delivery.run_id == run_id)
    )
    return {
        delivery.subscriber_id: Delivered(
            target=label,
            variant=variant,
            status=delivery.status,
            reason=delivery.reason,
            due=due.get(delivery.subscriber_id),
        )
        for delivery, label, variant in rows.all()
    }


def _audience(target: CampaignTarget) -> Audience:
    if target.segment is not None:
        return Audience(target.label, f"segment {target.segment}")
    if target.rule_text is not None:
        return Audience(target.label, f"rule {target.rule_text}")
    return Audience(target.label, "everyone else")


async def _send(
    sessionmaker: async_sessionmaker[AsyncSession], run_id: int, api_base: str, settings: Settings
) -> None:
    """The real sender at SEGBOT_RATE_LIMIT, through real Bot API requests to `api_base`."""
    sender_settings = SenderSettings(
        public_url=settings.public_url,
        secret=secrets.token_hex(16),  # rehearsal links never count as clicks
        send_timeout=settings.send_timeout,
    )
    budget = RateBudget(settings.rate_limit)
    async with TelegramMessenger(
        api_base=api_base, token=REHEARSAL_TOKEN, timeout=settings.send_timeout
    ) as messenger:
        sender = Sender(sessionmaker, messenger, budget, sender_settings)
        try:
            result = await sender.deliver(run_id)
        finally:
            await sender.close()
    if result is not BatchResult.FINISHED:
        raise RehearsalError(f"the rehearsal's run stopped before it was sent ({result})")
