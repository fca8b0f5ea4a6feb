"""The CLI tests' one CliRunner: `segbot` commands on the test database, in a terminal wide
enough for their tables; and `invoke`, which runs one from an async test."""

import asyncio

import pytest
import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner, Result


@pytest.fixture
def runner(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],  # empties the tables afterwards
) -> CliRunner:
    monkeypatch.setenv("SEGBOT_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "250")
    return CliRunner()


async def invoke(runner: CliRunner, command: typer.Typer, *args: str) -> Result:
    """The CLI runs its own event loop, so it runs in a thread of its own here."""
    return await asyncio.to_thread(runner.invoke, command, list(args))
