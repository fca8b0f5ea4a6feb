"""Tag features, 0/1 columns: `clicked:TAG` for the tags of tracked links a subscriber
clicked (content), `tag:TAG` for the tags they carry (interests: quiz answers and others).

Tags held by fewer than `MIN_TAG_SHARE` of the audience, or by more than `MAX_TAG_SHARE`
(nearly everyone: such a tag tells nobody apart), are left out; at most `MAX_TAGS` of each
kind are kept, the most held first. Membership tags of generated segments (`segment:<id>`)
never count.
"""

import numpy as np
import pandas as pd
from sqlalchemy import Integer, String, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import EventType, SubscriberTag
from segments.ai.columns import Array, positions, read_columns
from segments.models import MEMBERSHIP_TAG

MAX_TAGS = 20
MIN_TAG_SHARE = 0.01
MAX_TAG_SHARE = 0.95  # held by more, a tag tells nobody apart: it would only take a slot

# Each (subscriber, tag) once: numpy drops the repeats, cheaper than the database's
# GROUP BY (a sort or a temporary B-tree of every click).
_CLICKED_TAGS = {
    "sqlite": """
        SELECT e.subscriber_id, tag.value FROM events AS e, json_each(e.payload, '$.tags') AS tag
        WHERE e.type = :kind AND json_type(e.payload, '$.tags') = 'array'
          AND tag.type = 'text'""",
    "postgresql": """
        SELECT e.subscriber_id, tag.value #>> '{}' FROM events AS e
        CROSS JOIN LATERAL json_array_elements(CASE WHEN json_typeof(e.payload -> 'tags')
            = 'array' THEN e.payload -> 'tags' ELSE '[]'::json END) AS tag(value)
        WHERE e.type = :kind AND json_typeof(tag.value) = 'string'""",
}


async def clicked_tags(session: AsyncSession, index: pd.Index) -> dict[str, Array]:
    """`clicked:TAG` columns (float32) for the subscribers of `index`: 1 when they clicked
    a tracked link with that tag."""
    statement = text(_CLICKED_TAGS[session.get_bind().dialect.name]).columns(
        subscriber_id=Integer, value=String
    )
    kind = statement.bindparams(kind=EventType.LINK_CLICK.value)
    (owners,), (tags,) = await read_columns(session, kind, ["int"], 1)
    return _binary(owners, tags, index, "clicked:")


async def carried_tags(session: AsyncSession, index: pd.Index) -> dict[str, Array]:
    """`tag:TAG` columns (float32) for the subscribers of `index`: 1 when they carry the
    tag."""
    statement = select(SubscriberTag.subscriber_id, SubscriberTag.tag).where(
        SubscriberTag.tag.not_like(f"{MEMBERSHIP_TAG}%")
    )
    (owners,), (tags,) = await read_columns(session, statement, ["int"], 1)
    return _binary(owners, tags, index, "tag:")


def _binary(owners: Array, tags: pd.Categorical, index: pd.Index, prefix: str) -> dict[str, Array]:
    """0/1 columns `prefix + tag` for the most common tags among the subscribers of
    `index`, from the pairs (owner, tag), repeats counted once."""
    rows, among = positions(index, owners)
    width = max(len(tags.categories), 1)
    pairs = pd.unique(rows[among] * width + tags.codes[among])  # by hash: no sort
    rows, codes = np.divmod(pairs, width)
    holders = np.bincount(codes, minlength=len(tags.categories))
    least = max(2, int(np.ceil(MIN_TAG_SHARE * len(index))))
    most = MAX_TAG_SHARE * len(index)
    common = [(-int(count), str(tag)) for tag, count in zip(tags.categories, holders, strict=True)
              if least <= count <= most]  # fmt: skip
    kept = [tag for _, tag in sorted(common)[:MAX_TAGS]]
    columns = pd.Index(kept).get_indexer(tags.categories)[codes]  # -1: a tag left out
    held = columns >= 0
    matrix = np.zeros((len(index), len(kept)), dtype=np.float32, order="F")  # by column
    matrix[rows[held], columns[held]] = 1.0
    return {prefix + tag: matrix[:, number] for number, tag in enumerate(kept)}
