"""Where a rehearsal (`segbot rehearse`) runs: a database it may change, never
SEGBOT_DATABASE_URL itself.

SQLite is copied with SQLite's online backup from a read-only connection (a consistent
snapshot even while `segbot run` writes; the source is never written) into a temporary
folder, deleted afterwards. PostgreSQL is not copied from here: --scratch-database names a
copy the operator made, and that copy is what the rehearsal changes; it may not be the
real database. A mistake is one line on stderr, exit 2 (exit 1 when the copy fails).
"""

import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import make_url

from cli.execution import EXIT_FAILURE, fail
from core.errors import SegbotError
from core.settings import Settings, load_settings

COPY_NAME = "rehearsal.db"


@contextmanager
def throwaway_database(settings: Settings, scratch: str | None) -> Iterator[str]:
    """The URL of a database the rehearsal may change: `scratch`, or a copy of SQLite's."""
    real = settings.database_url.get_secret_value()
    if scratch is not None:
        try:
            url = load_settings(database_url=scratch).database_url.get_secret_value()
        except SegbotError as error:
            fail(f"--scratch-database: {str(error).removeprefix('SEGBOT_DATABASE_URL: ')}")
        if _same_database(url, real):
            fail("--scratch-database names SEGBOT_DATABASE_URL itself: give a copy of it")
        yield url
        return
    if not settings.is_sqlite:
        fail(
            "rehearse works on a throwaway copy of the database, and copies only SQLite: "
            "make a copy of this PostgreSQL database (e.g. `createdb -T segbot "
            "segbot_rehearsal` while segbot is stopped) and pass --scratch-database URL"
        )
    source = Path(make_url(real).database or "")
    if not source.is_file():
        fail(f"no database at {source} (SEGBOT_DATABASE_URL): nothing to rehearse yet")
    with tempfile.TemporaryDirectory(prefix="segbot-rehearsal-") as folder:
        copy = Path(folder) / COPY_NAME
        _copy_sqlite(source, copy)
        yield f"sqlite+aiosqlite:///{copy}"


def _copy_sqlite(source: Path, copy: Path) -> None:
    """SQLite's online backup from a read-only connection: the source is never written."""
    read_only = f"{source.resolve().as_uri()}?mode=ro"
    try:
        with (
            closing(sqlite3.connect(read_only, uri=True)) as reader,
            closing(sqlite3.connect(copy)) as writer,
        ):
            reader.backup(writer)
    except sqlite3.Error as error:
        fail(f"cannot copy {source}: {error}", EXIT_FAILURE)


def _same_database(one: str, other: str) -> bool:
    a, b = make_url(one), make_url(other)
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        return Path(a.database or "").resolve() == Path(b.database or "").resolve()
    return (a.host, a.port or 5432, a.database) == (b.host, b.port or 5432, b.database)
