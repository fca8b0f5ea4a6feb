"""A sync process for the tests to kill: it stores the first batch of a customers file,
prints "stored", and hangs there until it is killed.

    python -m tests.crm_sync.hanging_sync DATABASE_URL CUSTOMERS_CSV
"""

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from core.db import create_engine, create_sessionmaker
from crm_sync.connectors import Batch, Cursor, FilesConnector
from crm_sync.fields import Stream
from crm_sync.worker import run_sync
from tests.crm_sync.shop import RULES

CONNECTOR = "shop"


class HangsAfterOneBatch:
    def __init__(self, customers: Path) -> None:
        self._inner = FilesConnector(
            name=CONNECTOR, customers=customers, orders=None, rules=RULES, chunk_rows=1
        )
        self.name, self.streams = self._inner.name, self._inner.streams
        self.check = self._inner.check

    async def batches(self, stream: Stream, cursor: Cursor | None) -> AsyncIterator[Batch]:
        async for batch in self._inner.batches(stream, cursor):
            yield batch
            print("stored", flush=True)  # the worker asks for more once it stored the batch
            await asyncio.Event().wait()


async def main(database_url: str, customers: Path) -> None:
    engine = create_engine(database_url)
    try:
        await run_sync(
            sessionmaker=create_sessionmaker(engine), connector=HangsAfterOneBatch(customers)
        )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
