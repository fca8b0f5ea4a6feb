"""A segment's members as a CSV file: Telegram ids, or hashed contacts for ad platforms.

`hashed` is what ad platforms take for a customer list: columns `email` and `phone`, each
the SHA-256 (lower-case hex) of the value normalised the way the platform hashes its own
users' contacts, so the two hashes meet:

- Meta (custom audiences, the default): the email trimmed and lower-cased; the phone in
  E.164 as digits only (country code, no `+`).
- Google (Customer Match): the email trimmed and lower-cased, and for gmail.com and
  googlemail.com addresses without the dots before the `@` (Gmail ignores them; a
  `+suffix` is kept, as Google's own examples keep it); the phone in E.164 with its `+`.

Members with neither are left out; a member with one has the other column empty. Raw
phones and emails never leave this module. Erased subscribers are nobody's and never
exported.

Members are the saved rule evaluated now (not the last materialised refresh), streamed
from the database so a large segment is never all in memory at once.
"""

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.erasure import is_erased
from core.models import Subscriber
from core.safe_csv import SafeCsvWriter
from crm_sync.identity import normalize_email, normalize_phone
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules.compiler import condition
from segments.saved import RfmNames, UnknownSegmentError, saved_rules

STREAM_ROWS = 5_000


class ExportFormat(enum.StrEnum):
    IDS = "ids"  # column telegram_id
    HASHED = "hashed"  # columns email, phone: SHA-256 of the normalised values


class AdPlatform(enum.StrEnum):
    META = "meta"
    GOOGLE = "google"


COLUMNS = {ExportFormat.IDS: ("telegram_id",), ExportFormat.HASHED: ("email", "phone")}
GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


@dataclass(frozen=True, slots=True)
class ExportSummary:
    segment: str
    format: ExportFormat
    members: int
    rows: int  # written; members - rows had nothing to export in this format


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hashed_email(email: str | None, *, platform: AdPlatform = AdPlatform.META) -> str:
    """The SHA-256 of the email as `platform` hashes it; "" for no usable email."""
    normalised = None if email is None else normalize_email(email)
    if normalised is None:
        return ""
    local, _, domain = normalised.partition("@")
    if platform is AdPlatform.GOOGLE and domain in GMAIL_DOMAINS:
        normalised = f"{local.replace('.', '')}@{domain}"
    return sha256_hex(normalised)


def hashed_phone(phone: str | None, *, region: str, platform: AdPlatform = AdPlatform.META) -> str:
    """The SHA-256 of the phone as `platform` hashes it; "" for no usable phone."""
    normalised = None if phone is None else normalize_phone(phone, region=region)
    if normalised is None:
        return ""
    return sha256_hex(normalised if platform is AdPlatform.GOOGLE else normalised.removeprefix("+"))


async def write_export(
    session: AsyncSession,
    *,
    segment: str,
    export_format: ExportFormat,
    out: TextIO,
    now: datetime,
    platform: AdPlatform = AdPlatform.META,
    region: str = "US",
    rfm_segments: RfmNames = DEFAULT_SEGMENT_MAP.names,
) -> ExportSummary:
    """Write the segment's members to `out` as CSV (header first), ordered by Telegram id.
    `platform` says how `hashed` contacts are normalised; `region` reads phones stored
    without a country code."""
    rules = await saved_rules(session, rfm_segments=rfm_segments)
    if segment not in rules:
        raise UnknownSegmentError(f"no segment named {segment!r}")
    writer = SafeCsvWriter(out)
    writer.writerow(COLUMNS[export_format])
    statement = (
        select(Subscriber.telegram_id, Subscriber.email, Subscriber.phone)
        .where(condition(rules[segment], now=now, segments=rules), ~is_erased())
        .order_by(Subscriber.telegram_id)
        .execution_options(yield_per=STREAM_ROWS)
    )
    members = rows = 0
    lines: list[tuple[int] | tuple[str, str]]
    result = await session.stream(statement)
    async for partition in result.partitions():
        members += len(partition)
        if export_format is ExportFormat.IDS:
            lines = [(telegram_id,) for telegram_id, _, _ in partition]
        else:
            hashed = [
                (
                    hashed_email(email, platform=platform),
                    hashed_phone(phone, region=region, platform=platform),
                )
                for _, email, phone in partition
            ]
            lines = [line for line in hashed if any(line)]
        writer.writerows(lines)
        rows += len(lines)
    return ExportSummary(segment, export_format, members, rows)
