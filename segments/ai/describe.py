"""A marketer's description of the AI segments wanted: which features, which audience.

    "by engagement and interests where lang = es and buyer"

Everything before the first word `where` is read for keywords (`KEYWORDS`, any case,
punctuation ignored) naming feature groups; only the named groups are clustered on (none
named: every group). Everything after `where` is a segment rule (the rule language of
`segments.rules`) that narrows the audience; the audience is always active subscribers.
A description that names no group and has no `where` is refused, with the keywords.
"""

import re
from dataclasses import dataclass

from core.errors import SegbotError
from segments.ai.features import GROUP_NAMES
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules import AllOf, Condition, Op, Rule, parse
from segments.saved import RfmNames

ACTIVE = Condition("status", Op.EQ, "active")
KEYWORDS = {
    "rfm": "rfm", "purchases": "rfm", "purchase": "rfm", "buyers": "rfm", "spend": "rfm",
    "spending": "rfm", "orders": "rfm",
    "engagement": "engagement", "behaviour": "engagement", "behavior": "engagement",
    "reads": "engagement", "clicks": "engagement", "replies": "engagement",
    "reactions": "engagement", "activity": "engagement",
    "hours": "hours", "time": "hours", "schedule": "hours",
    "ladder": "ladder", "awareness": "ladder", "stage": "ladder", "funnel": "ladder",
    "demographics": "demographics", "demographic": "demographics", "age": "demographics",
    "gender": "demographics", "language": "demographics", "income": "demographics",
    "geography": "geography", "geographic": "geography", "location": "geography",
    "country": "geography", "city": "geography", "geo": "geography",
    "content": "content", "links": "content", "topics": "content",
    "interests": "interests", "interest": "interests", "quiz": "interests", "tags": "interests",
}  # fmt: skip
_WHERE = re.compile(r"\bwhere\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z]+")


class DescriptionError(SegbotError):
    """The description names no feature group and no audience."""


@dataclass(frozen=True, slots=True)
class Focus:
    groups: tuple[str, ...]  # feature groups to cluster on, in GROUP_NAMES order
    audience: Rule  # who is clustered
    where: str | None  # the rule text after `where`, as given


EVERYTHING = Focus(GROUP_NAMES, ACTIVE, None)


def read_description(
    description: str | None, *, rfm_segments: RfmNames = DEFAULT_SEGMENT_MAP.names
) -> Focus:
    """The feature groups and audience `description` asks for; RuleError for a bad rule
    after `where`, DescriptionError when it asks for nothing."""
    if description is None or not description.strip():
        return EVERYTHING
    found = _WHERE.search(description)
    words = description[: found.start()] if found else description
    named = {KEYWORDS[word] for word in _WORD.findall(words.lower()) if word in KEYWORDS}
    where = description[found.end() :].strip() if found else None
    if not named and not where:
        raise DescriptionError(
            "the description names no features and no audience: use keywords such as "
            f"{', '.join(sorted(set(KEYWORDS.values())))}, and/or `where RULE`"
        )
    groups = tuple(group for group in GROUP_NAMES if group in named) or GROUP_NAMES
    if not where:
        return Focus(groups, ACTIVE, None)
    return Focus(groups, AllOf((ACTIVE, parse(where, rfm_segments=rfm_segments))), where)
