"""Audience export: contacts hashed the way each ad platform hashes its own users' (Meta:
E.164 digits without `+`; Google Customer Match: E.164 with `+`, Gmail addresses without
the dots before `@`), erased subscribers never exported, the CSV safe in a spreadsheet."""

import csv
import hashlib
import io
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Subscriber
from core.subscribers import forget
from segments.export import AdPlatform, ExportFormat, hashed_email, hashed_phone, write_export
from segments.saved import save_segment

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
GOOGLE = AdPlatform.GOOGLE


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_google_takes_phones_with_their_plus() -> None:
    assert hashed_phone("+34 600 11 12 22", region="US", platform=GOOGLE) == sha256("+34600111222")
    assert hashed_phone("(415) 555-0100", region="US", platform=GOOGLE) == sha256("+14155550100")
    assert hashed_phone("+34 600 11 12 22", region="US") == sha256("34600111222")  # Meta


def test_google_takes_gmail_addresses_without_the_dots_before_the_at() -> None:
    assert hashed_email(" John.Q.Doe@Gmail.com ", platform=GOOGLE) == sha256("johnqdoe@gmail.com")
    assert hashed_email("jo.doe@googlemail.com", platform=GOOGLE) == sha256("jodoe@googlemail.com")
    assert hashed_email("jo.doe+ads@gmail.com", platform=GOOGLE) == sha256("jodoe+ads@gmail.com")
    assert hashed_email("jo.doe@example.com", platform=GOOGLE) == sha256("jo.doe@example.com")
    assert hashed_email("jo.doe@gmail.com.example", platform=GOOGLE) == sha256(
        "jo.doe@gmail.com.example"
    )
    assert hashed_email("Jo.Doe@Gmail.com") == sha256("jo.doe@gmail.com")  # Meta keeps dots
    assert hashed_email("not an email", platform=GOOGLE) == ""


async def members(session: AsyncSession) -> None:
    for number, (phone, email) in enumerate(
        [("+34600111222", "ana.lopez@gmail.com"), (None, "bo@example.com"), ("+34600333444", None)],
        start=1,
    ):
        session.add(
            Subscriber(
                telegram_id=number, chat_id=number, language_code="es", phone=phone,
                email=email, subscribed_at=NOW, last_seen_at=NOW, attributes={},
            )
        )  # fmt: skip
    await session.commit()
    await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)


async def export(
    session: AsyncSession,
    export_format: ExportFormat,
    segment: str = "spanish",
    platform: AdPlatform = AdPlatform.META,
) -> str:
    out = io.StringIO()
    await write_export(
        session, segment=segment, export_format=export_format, out=out, now=NOW,
        platform=platform,
    )  # fmt: skip
    return out.getvalue()


async def test_a_google_export_hashes_for_customer_match(session: AsyncSession) -> None:
    await members(session)
    rows = list(
        csv.reader(io.StringIO(await export(session, ExportFormat.HASHED, platform=GOOGLE)))
    )
    assert rows == [
        ["email", "phone"],
        [sha256("analopez@gmail.com"), sha256("+34600111222")],
        [sha256("bo@example.com"), ""],
        ["", sha256("+34600333444")],
    ]
    meta = list(csv.reader(io.StringIO(await export(session, ExportFormat.HASHED))))
    assert meta[1] == [sha256("ana.lopez@gmail.com"), sha256("34600111222")]


async def test_erased_subscribers_are_never_exported(session: AsyncSession) -> None:
    await members(session)
    await save_segment(session, name="everyone", rule_text="not tag:vip", now=NOW)
    await forget(session, telegram_id=2, now=NOW)
    await session.commit()
    ids = list(csv.reader(io.StringIO(await export(session, ExportFormat.IDS, "everyone"))))
    assert ids == [["telegram_id"], ["1"], ["3"]]  # the erased row matches, and is nobody
