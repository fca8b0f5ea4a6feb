"""Finding a subscriber the way an operator names them, and tagging them by hand.

No aiogram here: these are service functions (an AsyncSession in, the commit here), so
the CLI could use them as well.
"""

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import dialect_insert
from core.errors import SegbotError
from core.ids import as_id
from core.models import Subscriber, SubscriberTag
from crm_sync.identity import normalize_email, normalize_phone

MAX_TAG = 64


class UnknownSubscriberError(SegbotError):
    """Nobody matches what the operator typed; the message repeats it."""


class TagError(SegbotError):
    """A tag must be 1-64 characters without spaces."""


async def find_subscriber(session: AsyncSession, *, ref: str, region: str) -> Subscriber:
    """By Telegram id (digits, or `tg:` and digits as the CLI writes it), segbot's id
    (`id:` and digits), @username, +phone (or a national number of `region` with spaces
    or dashes) or email. UnknownSubscriberError names `ref` otherwise."""
    ref = ref.strip()
    where = None
    telegram_id = as_id(ref.removeprefix("tg:"))
    if telegram_id is not None:
        where = Subscriber.telegram_id == telegram_id
    elif ref.startswith("id:"):
        subscriber_id = as_id(ref.removeprefix("id:"))
        where = None if subscriber_id is None else Subscriber.id == subscriber_id
    elif ref.startswith("@") and len(ref) > 1:
        where = func.lower(Subscriber.username) == ref[1:].lower()
    elif "@" in ref:
        email = normalize_email(ref)
        where = None if email is None else Subscriber.email == email
    else:
        phone = normalize_phone(ref, region=region)
        where = None if phone is None else Subscriber.phone == phone
    found = None if where is None else await session.scalar(select(Subscriber).where(where))
    if found is None:
        raise UnknownSubscriberError(
            f"No subscriber matches {ref!r} "
            "(give a Telegram id, id:SEGBOT_ID, @username, +phone or email)."
        )
    return found


def check_tag(tag: str) -> str:
    if not (0 < len(tag) <= MAX_TAG and tag.isprintable()) or any(c.isspace() for c in tag):
        raise TagError(f"A tag is 1-{MAX_TAG} printable characters without spaces; got {tag!r}.")
    return tag


async def add_tag(
    session: AsyncSession, *, subscriber: Subscriber, tag: str, now: datetime
) -> bool:
    """Tag the subscriber; False if they already had the tag (given twice at once, too:
    a double click). Commits."""
    check_tag(tag)
    if any(existing.tag == tag for existing in subscriber.tags):
        return False
    added = await session.execute(
        dialect_insert(session, SubscriberTag)
        .values(subscriber_id=subscriber.id, tag=tag, added_at=now)
        .on_conflict_do_nothing()
    )
    await session.commit()
    return bool(added.rowcount)  # type: ignore[attr-defined]


async def remove_tag(session: AsyncSession, *, subscriber: Subscriber, tag: str) -> bool:
    """Untag the subscriber; False if they did not have the tag. Commits."""
    check_tag(tag)
    result = await session.execute(
        delete(SubscriberTag).where(
            SubscriberTag.subscriber_id == subscriber.id, SubscriberTag.tag == tag
        )
    )
    await session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]
