"""A segment's members as a CSV file: Telegram ids, or hashed contacts for ad platforms.

`hashed` is what Meta and other ad platforms take for a customer-list custom audience:
columns `email` and `phone`, each the SHA-256 (lower-case hex) of the normalised value —
the email trimmed and lower-cased, the phone in E.164 as digits only (country code, no
`+`). Members with neither are left out; a member with one has the other column empty.
Raw phones and emails never leave this module.

Members are the saved rule evaluated now (not the last materialised refresh), streamed
from the database so a large segment is never all in memory at once.
"""

import csv
import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Subscriber
from crm_sync.identity import normalize_email, normalize_phone
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules.compiler import condition
from segments.saved import RfmNames, UnknownSegmentError, saved_rules

STREAM_ROWS = 5_000


class ExportFormat(enum.StrEnum):
    IDS = "ids"  # column telegram_id
    HASHED = "hashed"  # columns email, phone: SHA-256 of the normalised values


COLUMNS = {ExportFormat.IDS: ("telegram_id",), ExportFormat.HASHED: ("email", "phone")}


@dataclass(frozen=True, slots=True)
class ExportSummary:
    segment: str
    format: ExportFormat
    members: int
    rows: int  # written; members - rows had nothing to export in this format


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hashed_email(email: str | None) -> str:
    normalised = None if email is None else normalize_email(email)
    return "" if normalised is None else sha256_hex(normalised)


def hashed_phone(phone: str | None, *, region: str) -> str:
    normalised = None if phone is None else normalize_phone(phone, region=region)
    return "" if normalised is None else sha256_hex(normalised.removeprefix("+"))


async def write_export(
    session: AsyncSession,
    *,
    segment: str,
    export_format: ExportFormat,
    out: TextIO,
    now: datetime,
    region: str = "US",
    rfm_segments: RfmNames = DEFAULT_SEGMENT_MAP.names,
) -> ExportSummary:
    """Write the segment's members to `out` as CSV (header first), ordered by Telegram id.
    `region` reads phones stored without a country code."""
    rules = await saved_rules(session, rfm_segments=rfm_segments)
    if segment not in rules:
        raise UnknownSegmentError(f"no segment named {segment!r}")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS[export_format])
    statement = (
        select(Subscriber.telegram_id, Subscriber.email, Subscriber.phone)
        .where(condition(rules[segment], now=now, segments=rules))
        .order_by(Subscriber.telegram_id)
        .execution_options(yield_per=STREAM_ROWS)
    )
    members = rows = 0
    lines: list[tuple[object, ...]]
    result = await session.stream(statement)
    async for partition in result.partitions():
        members += len(partition)
        if export_format is ExportFormat.IDS:
            lines = [(telegram_id,) for telegram_id, _, _ in partition]
        else:
            hashed = [
                (hashed_email(email), hashed_phone(phone, region=region))
                for _, email, phone in partition
            ]
            lines = [line for line in hashed if any(line)]
        writer.writerows(lines)
        rows += len(lines)
    return ExportSummary(segment, export_format, members, rows)
