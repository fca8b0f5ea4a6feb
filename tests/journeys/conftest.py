"""A journey world per test, on the migrated test database."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.cli.conftest import runner  # noqa: F401  (the CLI tests' runner, for `segbot journey`)
from tests.journeys.harness import Journeys


@pytest.fixture
async def world(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Journeys]:
    """The runner started (its feeds at the end of the empty log) and a sender."""
    journeys = Journeys(sessionmaker)
    await journeys.start()
    yield journeys
    await journeys.sender.close()
