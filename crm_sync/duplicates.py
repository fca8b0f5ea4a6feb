"""Ids read twice in one pass over a source: the first valid row with an id is the record,
and each later row with that id is rejected, naming the row it repeats.

Why the first: a file (or a query) listing one id twice makes two claims about one
record, and the later line is no more recent than the earlier one. Keeping the first and
listing the others for a person to look at is what import tools do with a duplicate key;
keeping the last, as segbot did, dropped a row without a word.

One `FirstRows` spans a whole pass (every chunk of a file, every partition of a query), so
a repeat is caught however far apart the two rows are. Ids are remembered as 64-bit hashes
with their row, 16 bytes a row (16 MB for a million rows). Two different ids of a
million-row file share a hash with odds of about 1 in 40 million; even then the row is
listed with the row it was taken to repeat, never lost silently.
"""

import numpy as np
import pandas as pd


class FirstRows:
    """Where each id of a pass was first read."""

    def __init__(self) -> None:
        self._ids = np.empty(0, dtype=np.uint64)  # sorted
        self._rows = np.empty(0, dtype=np.int64)

    def repeats(self, ids: pd.Series, row_numbers: np.ndarray) -> np.ndarray:
        """For each of `ids` (none missing, in reading order), the row number of an earlier
        row with the same id, 0 for none; the ids met for the first time are remembered."""
        count = len(ids)
        first_row = np.zeros(count, dtype=np.int64)
        if not count:
            return first_row
        hashes = pd.util.hash_array(ids.astype("string").to_numpy(dtype=object))
        rows = np.asarray(row_numbers, dtype=np.int64)

        # Against the rows of earlier batches.
        earlier = np.zeros(count, dtype=bool)
        if len(self._ids):
            at = np.minimum(np.searchsorted(self._ids, hashes), len(self._ids) - 1)
            earlier = self._ids[at] == hashes
            first_row[earlier] = self._rows[at[earlier]]

        # Within this batch: each id's first row here, unless an earlier batch had it.
        codes, uniques = pd.factorize(hashes)
        first_at = np.empty(len(uniques), dtype=np.int64)
        first_at[codes[::-1]] = np.arange(count)[::-1]  # the last write, the first row, stays
        firsts = first_at[codes]
        within = ~earlier & (firsts != np.arange(count))
        first_row[within] = rows[firsts[within]]

        new = np.flatnonzero(~earlier & ~within)
        new = new[np.argsort(hashes[new], kind="stable")]
        at = np.searchsorted(self._ids, hashes[new])
        self._ids = np.insert(self._ids, at, hashes[new])
        self._rows = np.insert(self._rows, at, rows[new])
        return first_row
