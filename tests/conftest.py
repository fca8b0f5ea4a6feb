"""Fixtures shared by every test: a migrated database (SQLite by default, PostgreSQL when
SEGBOT_TEST_DATABASE_URL names one), emptied after each test, a clean environment,
Hypothesis without its time limit per example, and, when a test is about to time out,
where each asyncio task waits (and on PostgreSQL what each database session does).

`--database-tests-only` keeps only the tests that use that database (the `database_url`
fixture, directly or through another): the PostgreSQL half of `make test` runs those, as
the tests without a database do the same on either and ran in the SQLite half."""

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import delete, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import migrations
from core.db import create_engine, create_sessionmaker
from core.settings import ENV_PREFIX, load_settings
from migrations.metadata import metadata
from tests.databases import temporary_postgres_database

TEST_DATABASE_ENV = "SEGBOT_TEST_DATABASE_URL"

# No time limit on one Hypothesis example: the suite runs on busy machines, where a
# descheduled example fails as "too slow" for nothing it did.
settings.register_profile("segbot", deadline=None)
settings.load_profile("segbot")


def pytest_configure(config: pytest.Config) -> None:
    """No terminal size from the environment: a pytest-xdist worker has COLUMNS=80 in it,
    which would fix the width of the CLI's consoles as their modules are imported (the CLI tests
    set a wide terminal per test)."""
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database-tests-only",
        action="store_true",
        help="run only the tests that use the test database (the rest do the same on any)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--database-tests-only"):
        return
    uses = [item for item in items if "database_url" in getattr(item, "fixturenames", ())]
    if len(uses) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in uses])
        items[:] = uses


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SEGBOT_* variable or .env file of the developer's leaks into a test."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX) and name != TEST_DATABASE_ENV:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
async def stuck_tasks_shown(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Just before pytest-timeout fails the test, every asyncio task's stack on stderr
    (its own dump shows threads, and an async test's thread only waits in the event
    loop), and on PostgreSQL every session of the test database with who blocks it."""
    timeout = _timeout(request)
    if not timeout:
        yield
        return
    showing = asyncio.get_running_loop().call_later(max(timeout - 5, 1), _show_what_waits)
    yield
    showing.cancel()


def _timeout(request: pytest.FixtureRequest) -> float:
    """The test's timeout as pytest-timeout reads it: its mark, else --timeout, else the
    ini's (0: none)."""
    marker = request.node.get_closest_marker("timeout")
    if marker is not None:
        return float(marker.kwargs.get("timeout", marker.args[0] if marker.args else 0) or 0)
    given = request.config.getoption("timeout", None)
    return float(given if given is not None else request.config.getini("timeout") or 0)


def _show_what_waits() -> None:
    for task in asyncio.all_tasks():
        print(f"--- {task.get_name()}: {task.get_coro()!r}", file=sys.stderr)
        task.print_stack(limit=12, file=sys.stderr)
    if _POSTGRES:
        showing = asyncio.ensure_future(_show_sessions(_POSTGRES[0]))
        _SHOWING.add(showing)
        showing.add_done_callback(_SHOWING.discard)


async def _show_sessions(url: str) -> None:
    """What each session of the test database is doing, and who blocks it."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(_SESSIONS)
            for row in rows:
                print("--- session", *row, file=sys.stderr)
    finally:
        await engine.dispose()


_POSTGRES: list[str] = []  # the PostgreSQL test database, once made
_SHOWING: set["asyncio.Future[None]"] = set()  # kept until done
_SESSIONS = text(
    "SELECT pid, pg_blocking_pids(pid), state, wait_event_type, wait_event,"
    " now() - xact_start, left(query, 300) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The test run's own database: a SQLite file, or a PostgreSQL database created on the
    server SEGBOT_TEST_DATABASE_URL names (so parallel runs never meet) and dropped after."""
    configured = os.environ.get(TEST_DATABASE_ENV)
    if not configured:
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'segbot-test.db'}"
        return
    async with temporary_postgres_database(
        load_settings(database_url=configured).database_url.get_secret_value()
    ) as url:
        _POSTGRES.append(url)
        yield url


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The test database, migrated once per test run."""
    engine = create_engine(database_url)
    await migrations.upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sessionmaker(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the migrated test database; every row is deleted after the test."""
    yield create_sessionmaker(engine)
    async with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            await connection.execute(delete(table))


@pytest.fixture
async def session(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture
async def fresh_database_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of the same kind as the test database, dropped afterwards."""
    if make_url(database_url).get_backend_name() == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    async with temporary_postgres_database(database_url) as url:
        yield url
