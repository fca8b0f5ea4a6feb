"""A sync process for the tests to kill: it stores the first batch of a customers file,
prints "stored", and hangs there until it is killed.

    python -m tests.crm_sync.hanging_sync DATABASE_URL CUSTOMERS_CSV
"""

import asyncio
import sys
from pathlib import Path

from core.db import create_engine, create_sessionmaker
from crm_sync.connectors import FilesConnector
from crm_sync.worker import run_sync
from tests.crm_sync.shop import RULES, HangsAfterOneBatch

CONNECTOR = "shop"


async def main(database_url: str, customers: Path) -> None:
    engine = create_engine(database_url)
    try:
        await run_sync(
            sessionmaker=create_sessionmaker(engine),
            connector=HangsAfterOneBatch(
                FilesConnector(
                    name=CONNECTOR, customers=customers, orders=None, rules=RULES, chunk_rows=1
                ),
                # the worker asks for more once it stored the batch
                on_hang=lambda: print("stored", flush=True),
            ),
        )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
