"""Guards that keep one pass over a paged API from paging forever.

An API that ignores the paging parameters answers every page with the same records, and
one that never says it is done pages on without end (one was read for 5.4 million records
in four minutes). So a pass stops, failing the run with what to check, when:

- a page holds the same records as an earlier page of the pass (compared by id, in any
  order; a record without an id by its whole content),
- a cursor token comes back that the pass has followed already,
- it would fetch more than `max_pages` pages, or has read more than `max_records`
  records (both per pass of a stream, counted on across runs that resume it).

The page that trips a guard is not stored; the stream's cursor stays at the last stored one.
"""

import hashlib
import json

from crm_sync.config import Pagination
from crm_sync.connectors.base import SourceError
from crm_sync.fields import Stream
from crm_sync.raw import JsonValue


class PagingGuard:
    def __init__(
        self, source: str, stream: Stream, paging: Pagination, *, pages: int, records: int
    ) -> None:
        self._where = f"{source}: {stream}"
        self._paging = paging
        self.pages = pages  # fetched in this pass
        self._records = records
        self._fingerprints: dict[bytes, int] = {}  # a page's records: the page they were on
        self._cursors: set[str] = set()

    def before_page(self) -> None:
        """Refuse to fetch a page past `max_pages`."""
        if self.pages >= self._paging.max_pages:
            raise SourceError(
                f"{self._where}: stopped after {self.pages} pages, the most "
                f"pagination.max_pages allows; raise it if the source holds more, or check "
                f"that the API pages as configured ({self._parameter()})"
            )

    def check_page(self, identities: list[JsonValue]) -> None:
        """Count a fetched page, given each record's identity (its id, else the record);
        refuse it past `max_records`, or when an earlier page held the same records."""
        self.pages += 1
        self._records += len(identities)
        if self._records > self._paging.max_records:
            raise SourceError(
                f"{self._where}: stopped at page {self.pages}, past "
                f"{self._paging.max_records} records (pagination.max_records); raise it if "
                f"the source holds more, or check that the API pages as configured "
                f"({self._parameter()})"
            )
        if not identities:
            return
        keys = sorted(json.dumps(item, sort_keys=True, default=str) for item in identities)
        fingerprint = hashlib.blake2b("\n".join(keys).encode(), digest_size=16).digest()
        earlier = self._fingerprints.setdefault(fingerprint, self.pages)
        if earlier != self.pages:
            raise SourceError(
                f"{self._where}: page {self.pages} holds the same records as page {earlier}: "
                f"the API is not paging as configured ({self._parameter()})"
            )

    def check_cursor(self, token: str | int | None) -> None:
        """Refuse a next-page cursor token the pass has followed already."""
        key = str(token)
        if key in self._cursors:
            raise SourceError(
                f"{self._where}: the API sent the cursor {key[:80]!r} a second time, after "
                f"page {self.pages}: it is not paging as configured ({self._parameter()})"
            )
        self._cursors.add(key)

    def _parameter(self) -> str:
        """Where to look: the parameter of the configured paging style."""
        paging = self._paging
        if paging.style == "page":
            ends = (
                f"its end read from {paging.total_pages_path!r}"
                if paging.total_pages_path
                else "a short page taken for the end: set total_pages_path if it has one"
            )
            return f"pagination: page number in {paging.page_param!r}, {ends}"
        if paging.style == "offset":
            return f"pagination: offset in {paging.offset_param!r}, {paging.page_size} a page"
        return (
            f"pagination: cursor sent in {paging.cursor_param!r}, "
            f"read from {paging.next_cursor_path!r}"
        )
