"""PostgreSQL: a sync that wrote much of a table vacuums it once the run is recorded.

A first import leaves tables autovacuum has not visited yet: the orders without a
visibility map, so every index lookup of a later sync reads the table's page as well, and
the customers at twice their size, their purchase facts having rewritten each once. As
`core.db.analyze_if_due` says of statistics, autovacuum gets there in its own time, or
never where it is off; so a run that wrote more rows of a table than autovacuum's default
rule allows (50, plus a fifth of the rows the table holds) vacuums it itself. VACUUM runs
outside any transaction: after the run's last commit, on the session's connection in
autocommit. SQLite reuses the pages it frees: nothing to do there.
"""

from collections.abc import Mapping

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import due_by_autovacuum_rule

VACUUM_BASE_ROWS, VACUUM_SHARE = 50, 0.2


async def vacuum_if_due(session: AsyncSession, written: Mapping[str, int]) -> None:
    """Vacuum each table of `written` (unqualified name: rows the run wrote) that
    autovacuum's default rule finds due; the session's transaction is committed first."""
    due = await due_by_autovacuum_rule(
        session, written, base_rows=VACUUM_BASE_ROWS, share=VACUUM_SHARE
    )
    await session.commit()
    if due:
        autocommit = {"isolation_level": "AUTOCOMMIT"}
        connection = await session.connection(execution_options=autocommit)
        await connection.execute(text(f"VACUUM {', '.join(due)}"))
