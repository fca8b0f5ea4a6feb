"""The segment rule language: one line a marketer can type in chat.

Examples::

    rfm in (champions, loyal) and stage >= solution_aware and lang = es
        and clicked within 7d and not tag:customer
    country in (ES, MX) and age >= 25 and age < 35
    attr.income = high or crm.tier = gold
    subscribed within 30d and not replied
    clicked >= 3 within 30d and not buyer
    read on campaign 12 and not clicked on campaign 12
    orders >= 2 and avg_check > 50 and last_purchase within 90d
    interest:running and activity >= active
    in segment vip and email is not set

Grammar (keywords are case-insensitive; `and` binds tighter than `or`)::

    rule      = all { "or" all }
    all       = one { "and" one }
    one       = "not" one | "(" rule ")" | predicate
    predicate = FIELD compare | ACTION { CMP COUNT | "within" DURATION | "on" "campaign" ID }
              | "tag:" NAME | "interest:" NAME | "in" "segment" NAME
              | "buyer" | "clicker" | "viewer"
    compare   = CMP value | ["not"] "in" "(" value { "," value } ")" | "is" ["not"] "set"
              | "before" DATE | "after" DATE | "within" DURATION
    CMP       = "=" | "!=" | "<" | "<=" | ">" | ">="
    value     = a word (es, solution_aware, 25-34) | "quoted text" | a number (25, 9.5)
              | a date (2026-01-31) | a duration (12h, 7d, 2w)

Fields (`segments.rules.fields.FIXED_FIELDS`): text lang, country, region, city, timezone,
source, referrer, utm_*, username, phone, email, gender, age_band, income, education;
numbers age, orders, spent, avg_check, rfm.r, rfm.f, rfm.m; moments subscribed, seen,
last_purchase; choices status, rfm (segment name); levels stage (unaware .. most_aware,
or 0-4) and activity (dormant, cold, passive, active, very_active). Any attribute is
`attr.NAME` (the subscriber's, from the quiz) or `crm.NAME` (a linked CRM customer's),
compared as text or as a number by the literal's type.

Actions: read (inferred), clicked (a tracked link), replied, pressed (a button), reacted,
answered (a quiz question). Without a count they mean at least once.
`interest:X` is the tag X or a clicked link tagged X. `buyer` has a counted order;
`clicker` has clicked; `viewer` has read but never clicked.

Meaning: text compares exactly (case matters); `before D` is before that UTC day,
`after D` after it, `within 7d` in the last 7 days; spent and avg_check compare to the
cent (`spent = 0.3` holds for orders of 0.10 and 0.20). Missing data makes a comparison
false and `not` makes it true, so `city != Madrid` includes unknown cities. Quoted text
cannot hold \u0000 or a lone surrogate, which no database stores.

A rule has limits (`segments.rules.limits`: its length, nesting, number of conditions
and of list values, the size of numbers and durations, the last date); beyond them it is
refused with a RuleLimitError at the column where a limit is crossed.
"""

from segments.rules.errors import (
    RuleError,
    RuleLimitError,
    RuleReferenceError,
    RuleSyntaxError,
    RuleTypeError,
)
from segments.rules.json_form import JsonRule, JsonValue, from_json, to_json
from segments.rules.parser import parse, segments_named_in
from segments.rules.text_form import to_text
from segments.rules.tree import (
    Action,
    AllOf,
    AnyOf,
    Condition,
    Did,
    Duration,
    Flag,
    HasFlag,
    InSegment,
    Not,
    Op,
    Predicate,
    Rule,
    Tagged,
    check_limits,
    predicates,
    segment_references,
)

__all__ = [
    "Action",
    "AllOf",
    "AnyOf",
    "Condition",
    "Did",
    "Duration",
    "Flag",
    "HasFlag",
    "InSegment",
    "JsonRule",
    "JsonValue",
    "Not",
    "Op",
    "Predicate",
    "Rule",
    "RuleError",
    "RuleLimitError",
    "RuleReferenceError",
    "RuleSyntaxError",
    "RuleTypeError",
    "Tagged",
    "check_limits",
    "from_json",
    "parse",
    "predicates",
    "segment_references",
    "segments_named_in",
    "to_json",
    "to_text",
]
