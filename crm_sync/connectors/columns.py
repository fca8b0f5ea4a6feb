"""Which source column holds which field: the mapping's, else the default names
(`crm_sync.fields.DEFAULT_COLUMNS`); and the columns nothing reads, to report."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches

from crm_sync.connectors.base import SourceError
from crm_sync.fields import DEFAULT_COLUMNS, REQUIRED, Stream
from crm_sync.raw import printable


@dataclass(frozen=True, slots=True)
class Columns:
    """{field: source column} for what segbot reads (attributes as `attr:<name>`), and the
    header's columns it does not read."""

    fields: dict[str, str]
    ignored: tuple[str, ...]


def resolve_columns(
    stream: Stream,
    header: Sequence[str],
    *,
    mapping: Mapping[str, str],
    attributes: Mapping[str, str],
    where: str,
    map_in: str,
) -> Columns:
    """The columns of `header` each field comes from.

    A required field, or a column the mapping or an attribute names, missing from the
    header fails the whole source with one message: what is missing, the columns there
    are, and how to map them in `map_in` (where the mapping lives, e.g. `--mapping FILE`).
    """
    by_lower: dict[str, str] = {}
    for heading in map(str, header):  # of one name in two casings, the first is read
        by_lower.setdefault(heading.strip().lower(), heading)
    found = f"columns found: {', '.join(printable(str(column)) for column in header) or 'none'}"
    fields: dict[str, str] = {}
    for field, candidates in DEFAULT_COLUMNS[stream].items():
        if field in mapping:
            column = by_lower.get(mapping[field].strip().lower())
            if column is None:
                raise SourceError(
                    f"{where}: no column {mapping[field]!r}, which {map_in} maps to {field}; "
                    f"{found}"
                )
        else:
            column = next((by_lower[c] for c in candidates if c in by_lower), None)
        if column is not None:
            fields[field] = column
    missing = [field for field in REQUIRED[stream] if field not in fields]
    if missing:
        raise SourceError(
            f"{where}: no column for {', '.join(missing)}; {found}. Map them under "
            f"columns.{stream} in {map_in}, e.g. {_example(stream, missing[0], header, fields)}"
        )
    if stream == "customers":
        for name, wanted in attributes.items():
            column = by_lower.get(wanted.strip().lower())
            if column is None:
                raise SourceError(
                    f"{where}: no column {wanted!r} for the attribute {name} ({map_in}); {found}"
                )
            fields[f"attr:{name}"] = column
    read = set(fields.values())
    return Columns(
        fields, tuple(printable(str(column)) for column in header if str(column) not in read)
    )


def _example(stream: Stream, field: str, header: Sequence[str], taken: Mapping[str, str]) -> str:
    """`field: "a column"`, the column one of the header's unread ones if one looks like it."""
    free = [str(column) for column in header if str(column) not in taken.values()]
    lowered = {column.lower(): column for column in free}
    for candidate in (field, *DEFAULT_COLUMNS[stream][field]):
        close = get_close_matches(candidate, list(lowered), n=1, cutoff=0.6)
        if close:
            return f'{field}: "{printable(lowered[close[0]])}"'
    return f'{field}: "YOUR COLUMN"'
