"""Throwaway PostgreSQL databases for tests and benchmarks, so parallel runs never meet."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine


@asynccontextmanager
async def temporary_postgres_database(
    server_url: str, *, prefix: str = "segbot_test"
) -> AsyncIterator[str]:
    """A new, empty database on the server of `server_url` (yields its URL); dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    server = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with server.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with server.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await server.dispose()
