"""What a sync sets aside while it fills an empty table, and puts back once after it.

Every row inserted into a table goes into each of its indexes too, most of them at a
random place: a million orders cost millions of scattered index updates, and each batch's
commit writes most index pages again. Each row is also checked against its foreign keys,
one lookup per row (on PostgreSQL with a row lock): about a quarter of what SQLite takes to
insert an order. An index built once over the rows loaded (a sort), or a foreign key
checked once for all of them (a join), costs a fraction of that. So a stream that starts
writing a table holding no row at all (a first import) sets aside the table's non-unique
indexes and its foreign keys, and puts them back when the stream ends, an error or a
cancellation (segbot stopping, Ctrl-C) included: every query on those tables would
otherwise scan them until the next sync. The unique indexes stay: the sync looks rows up
by them.

The rows a sync writes hold by construction (an order is stored with the customer its
join found). On PostgreSQL a foreign key put back is checked over every row all the
same, and a row whose referenced row went meanwhile first gets what its ON DELETE says
(deleted, or set to NULL). SQLite cannot drop a foreign key; the sync's connection stops
checking them instead (`PRAGMA foreign_keys`, which lives on the connection: the sync
keeps one, `core.db.one_connection`) and checks them again after. Nothing needs checking
over the rows written: SQLite lets one connection write at a time, so no customer an
order's join found can go before that order is committed, and one deleted later takes
its orders with it (every other connection checks keys).

A process that dies in between leaves them missing, never wrong: every run starts by
putting back whatever its tables lack (`restore`). Each step commits on its own, so
PostgreSQL's exclusive lock for setting one aside is held a moment.
"""

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from sqlalchemy import (
    ForeignKeyConstraint,
    Index,
    Table,
    and_,
    delete,
    exists,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex

logger = logging.getLogger(__name__)

LOCK_WAIT = "1s"
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's lock_not_available: lock_timeout ran out


@asynccontextmanager
async def filling(session: AsyncSession, table: Table) -> AsyncIterator[None]:
    """Around the writes of one stream into `table`: if `table` holds no row, what
    `restore` puts back is set aside first, and put back after, once."""
    aside: bool | None = None  # None: being set aside
    try:
        aside = await _set_aside(session, table)
        yield
        if aside:
            await restore(session, [table])
    except BaseException:  # cancelled too: the batch in flight is lost, the indexes must not be
        if aside is not False:  # set aside, or stopped as they were being set aside
            await session.rollback()
            try:
                await restore(session, [table])
            except Exception:  # the error in flight is the one to report; the next run restores
                logger.exception("could not put back the indexes and keys of %s", table.name)
        raise


async def restore(session: AsyncSession, tables: Iterable[Table]) -> None:
    """Build each non-unique index of `tables` the database lacks, and (PostgreSQL) add
    each foreign key it lacks; commit. SQLite's connection checks foreign keys again."""
    connection = await session.connection()
    for table in tables:
        indexes, keys = await _present(connection, table.name)
        for index in _indexes(table):
            if index.name not in indexes:
                await connection.execute(CreateIndex(index, if_not_exists=True))
        for key in _foreign_keys(table, connection):
            if key.name not in keys:
                await _add(session, key)
    await session.commit()
    await _check_sqlite_keys(session, True)


async def _set_aside(session: AsyncSession, table: Table) -> bool:
    """Drop `table`'s non-unique indexes and (PostgreSQL) foreign keys if it holds no row
    and they can be had at once, SQLite's connection checking no foreign key from then
    on; whether they were set aside.

    On PostgreSQL dropping one waits for every transaction that has read the table (or
    the table a key refers to) to end, and holds up every new reader meanwhile: after
    LOCK_WAIT the import goes ahead with them in place instead.
    """
    if await session.scalar(select(literal(1)).select_from(table).limit(1)) is not None:
        return False
    connection = await session.connection()
    keys = _foreign_keys(table, connection)
    try:
        if connection.dialect.name == "postgresql":
            await connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
        for index in _indexes(table):
            await connection.execute(DropIndex(index, if_exists=True))
        for key in keys:
            await connection.execute(DropConstraint(key, if_exists=True))
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        await session.rollback()
        logger.info("%s is in use: its indexes stay through the import", table.name)
        return False
    await session.commit()
    await _check_sqlite_keys(session, False)
    return True


async def _check_sqlite_keys(session: AsyncSession, check: bool) -> None:
    """SQLite: whether the session's connection checks foreign keys. Set between
    transactions: inside one, SQLite ignores it."""
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        await connection.exec_driver_sql(f"PRAGMA foreign_keys = {'ON' if check else 'OFF'}")


async def _add(session: AsyncSession, key: ForeignKeyConstraint) -> None:
    """Add `key` to its table, with the table it refers to locked against changes. Should
    a row's referenced row have gone meanwhile (adding the key checks every row), it first
    gets what ON DELETE says, as it would have had, and the key is added again."""
    table, referred = key.table, key.referred_table
    connection = await session.connection()
    name = connection.dialect.identifier_preparer.format_table(referred)
    await connection.execute(text(f"LOCK TABLE {name} IN SHARE ROW EXCLUSIVE MODE"))
    try:
        async with session.begin_nested():
            await session.execute(AddConstraint(key))
        return
    except IntegrityError:
        logger.info("rows of %s refer to rows gone from %s", table.name, referred.name)
    pairs = [(element.parent, element.column) for element in key.elements]
    gone = and_(
        *(local.is_not(None) for local, _ in pairs),
        ~exists().where(*(local == remote for local, remote in pairs)),
    )
    action = (key.ondelete or "").upper()
    if action == "CASCADE":
        await connection.execute(delete(table).where(gone))
    elif action == "SET NULL":
        await connection.execute(update(table).where(gone).values(dict.fromkeys(key.columns)))
    await connection.execute(AddConstraint(key))


def _indexes(table: Table) -> list[Index]:
    """What a bulk load sets aside of `table`'s indexes: the non-unique ones."""
    return sorted((index for index in table.indexes if not index.unique), key=_name)


def _foreign_keys(table: Table, connection: AsyncConnection) -> list[ForeignKeyConstraint]:
    """`table`'s foreign keys to drop: PostgreSQL's (SQLite cannot drop one)."""
    if connection.dialect.name != "postgresql":
        return []
    return sorted(table.foreign_key_constraints, key=_name)


# The names of a table's indexes and (PostgreSQL) foreign keys, in one look at the catalog
# (SQLAlchemy's reflection takes several queries a table and its first use in a process
# is slow: 40 ms for orders and customers at the start of a sync run, against 5 ms).
_PRESENT = {
    "postgresql": text(
        "SELECT 'index', indexname FROM pg_indexes"
        " WHERE schemaname = current_schema() AND tablename = :table"
        " UNION ALL SELECT 'key', conname FROM pg_constraint"
        " WHERE contype = 'f' AND conrelid = to_regclass(quote_ident(:table))"
    ),
    "sqlite": text(
        "SELECT 'index', name FROM sqlite_master WHERE type = 'index' AND tbl_name = :table"
    ),
}


async def _present(connection: AsyncConnection, table: str) -> tuple[set[str], set[str]]:
    """The names of the indexes and foreign keys the database has on `table`."""
    found: dict[str, set[str]] = {"index": set(), "key": set()}
    for kind, name in await connection.execute(_PRESENT[connection.dialect.name], {"table": table}):
        found[kind].add(name)
    return found["index"], found["key"]


def _name(item: Index | ForeignKeyConstraint) -> str:
    return str(item.name)
