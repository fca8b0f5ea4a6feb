"""Exit 0 when the PostgreSQL URL given as the argument accepts connections (for `make`)."""

import asyncio
import sys

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core.db import create_engine


async def reachable(url: str) -> bool:
    engine = create_engine(url)
    try:
        async with asyncio.timeout(5), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (OSError, TimeoutError, SQLAlchemyError):
        return False
    finally:
        await engine.dispose()
    return True


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(reachable(sys.argv[1])) else 1)
