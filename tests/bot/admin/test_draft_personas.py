"""The wizard's personas approach without a chat: labels that campaigns accept, the limit
of five, switching approach, and personas turned into campaign targets."""

import pytest

from bot.admin.draft import (
    Approach,
    Draft,
    DraftError,
    DraftMessage,
    Target,
    persona_target,
)
from broadcasts.personas import persona_label
from broadcasts.spec import ScheduleSpec
from segments.ai.personas import PersonaAudience


@pytest.mark.parametrize(
    ("name", "taken", "label"),
    [
        ("Deal hunters", [], "Deal_hunters"),
        ("Deal hunters", ["Deal_hunters"], "Deal_hunters_2"),
        ("AI 1: ES, deals", [], "AI_1_ES_deals"),
        ("Охотники", [], "persona"),
        ("Охотники", ["persona"], "persona_2"),
        ("default", [], "default_persona"),
        ("x" * 80, ["x" * 64], "x" * 62 + "_2"),
    ],
)
def test_a_persona_label_is_a_campaign_label(name: str, taken: list[str], label: str) -> None:
    assert persona_label(name, taken) == label


def test_personas_become_segment_or_query_targets() -> None:
    by_segment = persona_target("Readers", "Readers", PersonaAudience("Readers", "news", None))
    assert (by_segment.segment, by_segment.query) == ("news", None)
    spaced = persona_target("Deals", "Deals", PersonaAudience("Deals", "AI 1: ES, deals", None))
    assert (spaced.segment, spaced.query) == (None, 'in segment "AI 1: ES, deals"')
    ruled = persona_target("Es", "Es", PersonaAudience("Es", None, "lang = es"))
    assert (ruled.query, ruled.persona) == ("lang = es", "Es")


def test_at_most_five_personas_and_switching_clears_them() -> None:
    draft = Draft(name="p", approach=Approach.PERSONAS)
    for number in range(5):
        draft.toggle_persona(f"persona {number}")
    with pytest.raises(DraftError, match="at most 5"):
        draft.toggle_persona("one too many")
    draft.messages["persona_0"] = DraftMessage(text="hi")
    draft.toggle_persona("persona 0")
    assert "persona 0" not in draft.personas
    assert draft.messages == {}
    draft.choose(Approach.SEGMENTS)
    assert (draft.personas, draft.persona_labels, draft.persona_targets) == ([], {}, [])


def test_a_personas_draft_makes_a_campaign_of_its_targets() -> None:
    draft = Draft(name="p", approach=Approach.PERSONAS, schedule=ScheduleSpec(now=True))
    draft.toggle_persona("Spanish shoppers")
    draft.toggle_persona("Readers")
    assert draft.targets() == []  # until the choice is done
    draft.resolve_personas(
        [
            PersonaAudience("Spanish shoppers", None, "lang = es"),
            PersonaAudience("Readers", "news", None),
        ]
    )
    assert draft.targets() == [
        Target(label="Spanish_shoppers", query="lang = es", persona="Spanish shoppers"),
        Target(label="Readers", segment="news", persona="Readers"),
    ]
    for label in ("Spanish_shoppers", "Readers"):
        draft.messages[label] = DraftMessage(text=f"Hello {label}")
    spec = draft.spec()
    assert [(t.label, t.segment, t.query) for t in spec.audience] == [
        ("Spanish_shoppers", None, "lang = es"),
        ("Readers", "news", None),
    ]
