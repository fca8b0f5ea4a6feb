"""The people of a rehearsal (`segbot rehearse --subscribers FILE.csv`): read from a CSV
file, every value checked before anything starts, then subscribed in the rehearsal's
database as the bot would subscribe them.

Columns: telegram_id and first_name (required); last_name, username, language_code,
phone, email; country, region, city, timezone (the subscriber's place); source, referrer,
utm_source, utm_medium, utm_campaign, utm_content (their first touch); tags (separated by
`;`, for `tag:NAME` and `interest:NAME` rules); any other column is an attribute
(`attr.NAME` in rules; age, gender, income, education, age_band are rule fields of their
own), a whole or decimal number when it reads as one. An empty cell is a value not given.
"""

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import SegbotError
from core.models import Subscriber, SubscriberTag
from core.profiles import set_email, set_phone
from core.quiz import PROFILE_FIELDS
from core.sources import StartSource
from core.subscribers import Profile, subscribe
from core.zones import zone_or_none
from crm_sync.identity import normalize_email, normalize_phone

MAX_PEOPLE = 1_000  # a rehearsal is sent at the real rate: a handful of people, not a list
REQUIRED = ("telegram_id", "first_name")
NAMES = ("last_name", "username", "language_code")
CONTACTS = ("phone", "email")
SOURCE = ("source", "referrer", "utm_source", "utm_medium", "utm_campaign", "utm_content")
TAGS = "tags"
_TELEGRAM_ID = re.compile(r"[1-9][0-9]{0,15}")  # Telegram's ids fit in 52 bits
_ATTRIBUTE = re.compile(r"[A-Za-z0-9_]{1,64}")
_TAG = re.compile(r"[\w:.-]{1,64}")
_WHOLE = re.compile(r"-?(0|[1-9][0-9]{0,17})")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]{0,17})\.[0-9]{1,12}")
_KNOWN = frozenset((*REQUIRED, *NAMES, *CONTACTS, *SOURCE, *PROFILE_FIELDS, TAGS))
_AS_GIVEN = frozenset(_KNOWN - {"telegram_id", *CONTACTS, TAGS})  # kept in a column as written


class PeopleFileError(SegbotError):
    """The people file cannot be used as it is; the message names the line and column."""


@dataclass(frozen=True, slots=True)
class Person:
    profile: Profile
    phone: str | None = None
    email: str | None = None
    source: StartSource | None = None
    place: dict[str, str] = field(default_factory=dict)  # country, region, city, timezone
    attributes: dict[str, str | int | float] = field(default_factory=dict)
    tags: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """How the rehearsal's report names them: their name, Telegram id and @username."""
        profile = self.profile
        full = " ".join(filter(None, (profile.first_name, profile.last_name)))
        handle = f", @{profile.username}" if profile.username else ""
        return f"{full} ({profile.telegram_id}{handle})"


def read_people(path: Path, *, phone_region: str) -> list[Person]:
    """Every person in the CSV file; PeopleFileError at the first value that cannot be used."""
    people: list[Person] = []
    lines: dict[int, int] = {}  # the line each Telegram id is on
    if path.exists() and not path.is_file():  # read for ever (/dev/zero), or waited on
        raise PeopleFileError(f"{path}: not a regular file (a pipe or a device)")
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.DictReader(file)
            _check_columns(path, reader.fieldnames or [])
            for row in reader:
                person = _person(path, reader.line_num, row, phone_region)
                telegram_id = person.profile.telegram_id
                earlier = lines.setdefault(telegram_id, reader.line_num)
                if earlier != reader.line_num:
                    raise PeopleFileError(
                        f"{path} line {reader.line_num}: telegram_id {telegram_id} is on line "
                        f"{earlier} too (one row per person)"
                    )
                if len(people) == MAX_PEOPLE:
                    raise PeopleFileError(f"{path}: more than {MAX_PEOPLE} people to rehearse")
                people.append(person)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise PeopleFileError(f"{path}: cannot read it as a UTF-8 CSV file: {error}") from None
    if not people:
        raise PeopleFileError(f"{path}: no people in it (one row per person, under a header)")
    return people


async def add_people(
    sessionmaker: async_sessionmaker[AsyncSession], people: list[Person], *, now: datetime
) -> dict[int, int]:
    """Subscribe everyone, as /start does, with what the file says of them; their
    subscriber ids by Telegram id."""
    ids: dict[int, int] = {}
    async with sessionmaker() as session:
        for person in people:
            telegram_id = person.profile.telegram_id
            subscriber, _ = await subscribe(
                session, profile=person.profile, source=person.source, now=now
            )
            ids[telegram_id] = subscriber.id
            if person.phone is not None:
                await set_phone(session, telegram_id=telegram_id, phone=person.phone, now=now)
            if person.email is not None:
                await set_email(session, telegram_id=telegram_id, email=person.email, now=now)
            await _describe(session, subscriber.id, person, now=now)
    return ids


async def _describe(
    session: AsyncSession, subscriber_id: int, person: Person, *, now: datetime
) -> None:
    """Their place, attributes and tags, as the quiz would have left them; commits."""
    subscriber = await session.get(Subscriber, subscriber_id, populate_existing=True)
    if subscriber is None:
        raise LookupError(f"subscriber {subscriber_id} is gone")
    for column, value in person.place.items():
        setattr(subscriber, column, value)
    subscriber.attributes = {**subscriber.attributes, **person.attributes}
    have = {tag.tag for tag in subscriber.tags}
    session.add_all(
        SubscriberTag(subscriber_id=subscriber_id, tag=tag, added_at=now)
        for tag in person.tags
        if tag not in have
    )
    await session.commit()


def _check_columns(path: Path, columns: Sequence[str]) -> None:
    missing = [column for column in REQUIRED if column not in columns]
    if missing:
        raise PeopleFileError(
            f"{path}: no column {', '.join(missing)} in the header ({', '.join(columns)})"
        )
    repeated = sorted({column for column in columns if columns.count(column) > 1})
    if repeated:
        raise PeopleFileError(f"{path}: the column {', '.join(repeated)} is there twice")
    for column in columns:
        if column not in _KNOWN and not _ATTRIBUTE.fullmatch(column):
            raise PeopleFileError(
                f"{path}: column {column!r}: an attribute's name is letters, digits and _ "
                "(rules use it as attr.NAME)"
            )


def _person(path: Path, line: int, row: Mapping[str | None, Any], region: str) -> Person:
    where = f"{path} line {line}"
    if None in row:
        raise PeopleFileError(f"{where}: more values than the header has columns")
    cells = {str(k): v.strip() for k, v in row.items() if isinstance(v, str) and v.strip()}
    for column, value in cells.items():
        limit = _length(column)
        if limit is not None and len(value) > limit:
            raise PeopleFileError(f"{where}: {column} is longer than {limit} characters")
    telegram_id = cells.get("telegram_id", "")
    if not _TELEGRAM_ID.fullmatch(telegram_id):
        raise PeopleFileError(f"{where}: telegram_id {telegram_id!r} is not a Telegram user id")
    if "first_name" not in cells:
        raise PeopleFileError(f"{where}: first_name is empty (Telegram requires one)")
    profile = Profile(
        telegram_id=int(telegram_id),
        chat_id=int(telegram_id),  # a private chat's id is the user's
        first_name=cells["first_name"],
        last_name=cells.get("last_name"),
        username=cells["username"].removeprefix("@") if "username" in cells else None,
        language_code=cells.get("language_code"),
    )
    phone = email = None
    if "phone" in cells and (phone := normalize_phone(cells["phone"], region=region)) is None:
        raise PeopleFileError(f"{where}: phone {cells['phone']!r} is not a phone number")
    if "email" in cells and (email := normalize_email(cells["email"])) is None:
        raise PeopleFileError(f"{where}: email {cells['email']!r} is not an e-mail address")
    if "timezone" in cells and not zone_or_none(cells["timezone"]):
        raise PeopleFileError(
            f"{where}: timezone {cells['timezone']!r} is not an IANA time zone (Europe/Madrid)"
        )
    # Each once, in the order given: `vip;vip` is one tag.
    tags = tuple(
        dict.fromkeys(tag.strip() for tag in cells.get(TAGS, "").split(";") if tag.strip())
    )
    bad = [tag for tag in tags if not _TAG.fullmatch(tag)]
    if bad:
        raise PeopleFileError(
            f"{where}: tag {bad[0]!r}: a tag is letters, digits and _ : . - (64 at most)"
        )
    return Person(
        profile=profile,
        phone=phone,
        email=email,
        source=_source(cells) if any(column in cells for column in SOURCE) else None,
        place={column: cells[column] for column in sorted(PROFILE_FIELDS) if column in cells},
        attributes={k: _value(v) for k, v in cells.items() if k not in _KNOWN},
        tags=tags,
    )


def _source(cells: Mapping[str, str]) -> StartSource:
    """Their first touch, as a /start payload would have said it."""
    return StartSource(
        name=cells.get("source"),
        utm_source=cells.get("utm_source"),
        utm_medium=cells.get("utm_medium"),
        utm_campaign=cells.get("utm_campaign"),
        utm_content=cells.get("utm_content"),
        referrer=cells.get("referrer"),
    )


def _value(text: str) -> str | int | float:
    """A number when the text reads as one (so `age > 30` compares numbers), else text."""
    if _WHOLE.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    return text


def _length(column: str) -> int | None:
    """The longest value the subscribers table keeps in this column, if it is one of its."""
    if column not in _AS_GIVEN:
        return None
    length: int | None = getattr(Subscriber.__table__.columns[column].type, "length", None)
    return length
