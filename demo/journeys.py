"""The demo's journeys: a welcome series and a "clicked but did not buy" follow-up, saved
while the bot runs, then three newcomers go through them against the emulator.

- `welcome_series` (trigger: subscribed): a welcome with a link now; whoever clicks it
  within a day gets a thank-you with a code, whoever does not, a reminder after the day.
- `clicked_no_buy` (trigger: any tracked-link click; goal: a purchase within 3 days): a
  day after the click, a nudge, unless they bought in between (then the goal ends it).

Gina and Ivy click the welcome's link; Ivy, a shop customer who opened the bot through
her customer link, then buys (an orders export through the CRM sync); Hugo does nothing.
A day passes on the demo's clock (demo/clock.py), not in real time: Hugo gets the
reminder, Gina the nudge, Ivy nothing more. Then each journey's report, step by step.
"""

import asyncio
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cli.journey_report import print_journey_report
from core.models import Subscriber
from core.safe_csv import write_csv
from core.settings import Settings
from crm_sync.config import CrmConfig
from demo.browser import open_link
from demo.clock import DemoClock
from demo.report import ORDER_COLUMNS, import_orders
from journeys.models import Enrolment, Journey
from journeys.reports import JourneyReport, journey_report
from journeys.spec import parse_journey
from journeys.store import CLI_ACTOR, save_journey
from telegram_emulator import Emulator, SentMessage

WELCOME = """
name: welcome_series
trigger: subscribed
steps:
  - id: hello
    send: {text: "Welcome, {{ first_name }}! Our bestsellers: https://shop.example/best"}
  - id: looked
    wait_for: {clicked: {step: hello}}
    within: 1d
    then: thanks
    else: reminder
  - id: reminder
    send: {text: "{{ first_name }}, in case you missed them: https://shop.example/best"}
    next: end
  - id: thanks
    send: {text: "Glad you had a look, {{ first_name }}: WELCOME10 takes 10% off."}
"""
FOLLOW_UP = """
name: clicked_no_buy
trigger: clicked
goal: {purchased: any, within: 3d}
steps:
  - id: pause
    wait: 1d
  - id: nudge
    send: {text: "Still thinking it over, {{ first_name }}? Shipping is on us this week."}
"""
JOURNEYS = ("welcome_series", "clicked_no_buy")
GINA, HUGO, IVY = 1007, 1008, 1009
NAMES = {GINA: "Gina", HUGO: "Hugo", IVY: "Ivy"}
IVY_CUSTOMER = "C-1010"  # a sample shop customer (demo/shop.py)
TIMEOUT = 15.0
# A person reads a message before acting on it: by then its send is recorded, so a click
# counts as a read of it and a purchase is attributed to the latest message.
READING_SECONDS = 0.5
_TRACKED = re.compile(r"https?://\S+/r/\S+")


async def welcome_and_follow_up(
    sessionmaker: async_sessionmaker[AsyncSession],
    emulator: Emulator,
    *,
    starts: dict[int, str],  # each newcomer's /start line
    settings: Settings,
    clock: DemoClock,
    crm: CrmConfig,
    folder: Path,
    console: Console,
) -> None:
    """The whole act (see the module docstring), printed as it goes."""
    async with sessionmaker() as session:
        for text in (WELCOME, FOLLOW_UP):
            spec = parse_journey(text, source="demo")
            await save_journey(
                session, spec=spec, source=text, now=clock(), actor=CLI_ACTOR,
                public_url=settings.public_url,
            )  # fmt: skip
    console.print(
        "Saved two journeys: welcome_series (a welcome, then a thank-you to whoever clicks "
        "or a reminder a day later) and clicked_no_buy (a nudge a day after a click, unless "
        "they buy)."
    )
    for user_id, start in starts.items():
        emulator.add_user(user_id, first_name=NAMES[user_id], language_code="en")
        await emulator.send_text(user_id, start)
    welcomes = {user_id: await _message(emulator, user_id, "bestsellers") for user_id in starts}
    console.print("Gina, Hugo and Ivy subscribed; the welcome reached each within seconds.")
    await asyncio.sleep(READING_SECONDS)
    for user_id in (GINA, IVY):
        await open_link(_tracked_link(welcomes[user_id]))
    for user_id in (GINA, IVY):
        await _message(emulator, user_id, "WELCOME10")
    await asyncio.sleep(READING_SECONDS)
    console.print("Gina and Ivy clicked it and got the thank-you at once.")
    await _buy(sessionmaker, customer=IVY_CUSTOMER, clock=clock, crm=crm, folder=folder)
    await _converted(sessionmaker, IVY)
    console.print("Ivy bought in the shop (a CRM sync): clicked_no_buy ends for her, converted.")
    clock.jump(timedelta(days=1, minutes=1))
    console.print("A day passes (on the demo's clock)...")
    await _message(emulator, HUGO, "in case you missed")
    await _message(emulator, GINA, "Shipping is on us")
    for user_id in starts:
        got = [m.plain_text for m in emulator.messages_to(user_id) if _journeys_text(m)]
        console.print(f"{NAMES[user_id]} got: " + " | ".join(got), markup=False)
    for report in await _settled_reports(sessionmaker, clock):
        print_journey_report(console, report)


async def _settled_reports(
    sessionmaker: async_sessionmaker[AsyncSession], clock: DemoClock
) -> list[JourneyReport]:
    """Each journey's report, once the sender has settled every message they queued."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            async with sessionmaker() as session:
                reports = [
                    await journey_report(session, name=name, now=clock()) for name in JOURNEYS
                ]
            if not any(report.messages.pending for report in reports):
                return reports
            await asyncio.sleep(0.1)


def _journeys_text(message: SentMessage) -> bool:
    return any(
        words in message.plain_text
        for words in ("bestsellers", "WELCOME10", "in case you missed", "Shipping is on us")
    )


def _tracked_link(message: SentMessage) -> str:
    found = _TRACKED.search(message.plain_text)
    if found is None:
        raise RuntimeError(f"no tracked link in {message.plain_text!r}")
    return found.group(0)


async def _message(emulator: Emulator, user_id: int, words: str) -> SentMessage:
    """The bot's first message to `user_id` with `words` in it, once it has arrived."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            for message in emulator.messages_to(user_id):
                if words in message.plain_text:
                    return message
            await asyncio.sleep(0.05)


async def _buy(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    customer: str,
    clock: DemoClock,
    crm: CrmConfig,
    folder: Path,
) -> None:
    orders = folder / "orders-after-journey.csv"
    order = ("AFTER-journey", customer, clock().isoformat(), Decimal("64.00"), "EUR", "completed")
    write_csv(orders, ORDER_COLUMNS, [order])
    await import_orders(sessionmaker, orders=orders, crm=crm)


async def _converted(sessionmaker: async_sessionmaker[AsyncSession], telegram_id: int) -> None:
    """Wait until the follow-up has counted the subscriber's purchase as its goal."""
    converted = (
        select(Enrolment.id)
        .join(Journey, Journey.id == Enrolment.journey_id)
        .join(Subscriber, Subscriber.id == Enrolment.subscriber_id)
        .where(
            Journey.name == "clicked_no_buy",
            Subscriber.telegram_id == telegram_id,
            Enrolment.converted_at.is_not(None),
        )
    )
    async with asyncio.timeout(TIMEOUT):
        while True:
            async with sessionmaker() as session:
                if await session.scalar(converted) is not None:
                    return
            await asyncio.sleep(0.1)
