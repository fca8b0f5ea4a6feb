"""Fixtures of the CRM sync tests: a stepping clock, the small shop's files, subscribers to
match (their helpers are in tests/crm_sync/shop.py), and the CLI's `runner` for the tests
that import through `segbot crm import`."""

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Subscriber, SubscriberStatus
from tests.cli.conftest import runner  # noqa: F401  (a fixture, shared)
from tests.crm_sync.shop import T0, SteppingClock, SubscriberFactory, write_shop_files


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def shop_files(tmp_path: Path) -> tuple[Path, Path]:
    """A small shop: three customers, five orders (one refunded)."""
    return write_shop_files(tmp_path)


@pytest.fixture
def subscriber_factory(session: AsyncSession) -> SubscriberFactory:
    counter = iter(range(1000, 100_000))

    def make(*, phone: str | None = None, email: str | None = None) -> Subscriber:
        telegram_id = next(counter)
        subscriber = Subscriber(
            telegram_id=telegram_id,
            chat_id=telegram_id,
            phone=phone,
            email=email,
            status=SubscriberStatus.ACTIVE,
            subscribed_at=T0,
            last_seen_at=T0,
            attributes={},
        )
        session.add(subscriber)
        return subscriber

    return make
