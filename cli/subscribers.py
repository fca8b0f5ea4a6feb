"""`segbot subscribers find|show`: look people up, and everything segbot knows of one.

A subscriber is named the same way by every command that takes one (`subscriber_or_exit`,
over `core.subscriber_search`): id (42 or id:42), Telegram id (tg:123456789) or
@username. A name that fits nobody, or more than one subscriber, is one line on stderr,
exit 1 (exit 2 if it is written as none of these, `tg:abc`); `find` exits 1 when nothing
matches, like grep.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from cli.execution import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    config_or_exit,
    execute,
    fail,
    on_database,
    settings_or_exit,
)
from cli.tables import FittedTable, SafeConsole
from core.clock import utcnow

if TYPE_CHECKING:  # the database and domain modules load only when a command runs
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from cli.subscriber_facts import Facts
    from core.models import Subscriber

app = typer.Typer(
    help=(
        "Subscribers: find them, show one in full. Name one by id (42 or id:42), Telegram "
        "id (tg:123456789) or @username."
    ),
    no_args_is_help=True,
    add_completion=False,
)
out = SafeConsole(highlight=False)
LAST = 10  # deliveries and events `show` lists
Who = Annotated[
    str,
    typer.Argument(
        help="The subscriber: id (42 or id:42), Telegram id (tg:123456789) or @username."
    ),
]


async def subscriber_or_exit(session: AsyncSession, ref: str) -> Subscriber:
    """The one subscriber `ref` names; otherwise why not on stderr, exit 2 when `ref` is
    not written as a subscriber is named, 1 when it names nobody or several."""
    from core.subscriber_search import (
        MalformedSubscriberRefError,
        SubscriberRefError,
        resolve_subscriber,
    )

    try:
        return await resolve_subscriber(session, ref)
    except SubscriberRefError as error:
        malformed = isinstance(error, MalformedSubscriberRefError)
        fail(str(error), EXIT_CONFIG if malformed else EXIT_FAILURE)


def _run(
    work: Callable[[async_sessionmaker[AsyncSession], tuple[str, ...]], Awaitable[None]],
) -> None:
    settings = settings_or_exit()
    rfm_names = config_or_exit(settings).rfm_names
    execute(on_database(settings, lambda sessions: work(sessions, rfm_names)))


@app.command()
def find(
    text: Annotated[
        str, typer.Argument(help="Part of a name, @username, Telegram id, phone or email.")
    ],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many.")] = 20,
) -> None:
    """Find subscribers by part of a name, @username, Telegram id, phone or email.

    Any case; phone fragments may have spaces or dashes; TEXT may also be a subscriber
    id. Exit 1 if nobody matches."""
    from core.subscriber_search import search_subscribers

    if not text.strip().removeprefix("@"):
        fail("give some text to search for: part of a name, @username, id, phone or email")

    async def work(sessionmaker: async_sessionmaker[AsyncSession], _: tuple[str, ...]) -> None:
        async with sessionmaker() as session:
            found = await search_subscribers(session, text=text, limit=limit)
        if not found.subscribers:
            fail(f"no subscriber matches {text!r}", EXIT_FAILURE)
        table = FittedTable(
            "id", "telegram id", "username", "name", "status", "phone", "email", "subscribed"
        )
        for person in found.subscribers:
            table.add_row(
                str(person.id), str(person.telegram_id), _handle(person), _name(person),
                person.status.value, person.phone or "", person.email or "",
                f"{person.subscribed_at:%Y-%m-%d}",
            )  # fmt: skip
        out.print(table)
        if found.total > len(found.subscribers):
            out.print(f"{len(found.subscribers)} of {found.total} matches: --limit shows more")

    _run(work)


@app.command()
def show(who: Who) -> None:
    """Everything segbot knows of one subscriber.

    Profile, source, tags, CRM customers and RFM, ladder stage, activity, the segments
    they are in now (and what holds), their last deliveries and events."""
    from cli.subscriber_facts import gather

    async def work(
        sessionmaker: async_sessionmaker[AsyncSession], rfm_names: tuple[str, ...]
    ) -> None:
        async with sessionmaker() as session:
            person = await subscriber_or_exit(session, who)
            facts = await gather(session, person, now=utcnow(), rfm_names=rfm_names, last=LAST)
        out.print(f"{_name(person)} {_handle(person)}")
        for label, value in _profile(person, facts):
            out.print(f"  {label}: {value}")
        out.print("segments (and what holds):" if facts.segments else "segments: none")
        for name, held in facts.segments.items():
            out.print(f"  {name}: {', '.join(held)}")
        out.print(_deliveries(facts) if facts.deliveries else "deliveries: none")
        out.print(_events(facts) if facts.events else "events: none")

    _run(work)


def _profile(person: Subscriber, facts: Facts) -> list[tuple[str, str]]:
    seen = f"{_moment(person.subscribed_at)} · last seen {_moment(person.last_seen_at)}"
    crm = facts.customers or ["not matched to a CRM customer"]
    return [
        ("id", f"{person.id} · Telegram {person.telegram_id}"),
        ("status", f"{person.status.value} · language {person.language_code or '-'}"),
        ("subscribed", seen),
        ("source", _source(person)),
        ("phone, email", f"{person.phone or '-'} · {person.email or '-'}"),
        ("place", _place(person)),
        ("tags", ", ".join(sorted(tag.tag for tag in person.tags)) or "-"),
        ("answers", _answers(person.attributes) or "-"),
        *(("crm", line) for line in crm),
        ("stage", f"{facts.stage} · activity {facts.activity}"),
    ]


def _answers(attributes: object) -> str:
    """The stored answers as `key: value; ...`; attributes that are not a JSON object
    (written by hand, or by an older import) are shown as they are."""
    if isinstance(attributes, dict):
        return "; ".join(f"{key}: {value}" for key, value in sorted(attributes.items()))
    return "" if attributes is None else str(attributes)


def _deliveries(facts: Facts) -> FittedTable:
    table = FittedTable("run started", "campaign", "message", "status", "sent", title="deliveries")
    for row in facts.deliveries:
        table.add_row(
            _moment(row.started_at), row.campaign, row.message,
            row.status + (f" ({row.reason})" if row.reason else ""), _moment(row.sent_at),
        )  # fmt: skip
    return table


def _events(facts: Facts) -> FittedTable:
    table = FittedTable("when (UTC)", "event", "campaign", title="events")
    for event in facts.events:
        campaign = "" if event.campaign_id is None else str(event.campaign_id)
        table.add_row(_moment(event.occurred_at), event.kind, campaign)
    return table


def _name(person: Subscriber) -> str:
    return " ".join(filter(None, (person.first_name, person.last_name))) or "(no name)"


def _handle(person: Subscriber) -> str:
    return f"@{person.username}" if person.username else ""


def _source(person: Subscriber) -> str:
    utm = " / ".join(filter(None, (person.utm_source, person.utm_medium, person.utm_campaign)))
    referrer = f", referred by {person.referrer}" if person.referrer else ""
    return (person.source or "-") + (f" ({utm})" if utm else "") + referrer


def _place(person: Subscriber) -> str:
    place = ", ".join(filter(None, (person.city, person.region, person.country))) or "-"
    return f"{place} · timezone {person.timezone or '-'}"


def _moment(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M}"
