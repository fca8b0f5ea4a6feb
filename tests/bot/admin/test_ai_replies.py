"""How AI segment replies are laid out: profiles by section, long replies in pieces."""

from bot.admin.ai_commands import profile_block
from bot.admin.monospace import pieces


def test_a_profile_reads_by_section() -> None:
    block = profile_block(
        "AI 1: ES, deals",
        60,
        {
            "share": 0.5,
            "demographics": ["lang es"] * 6,
            "geography": ["country ES <Madrid>"],
            "pain_points": ["waits for a discount"],
            "preferred_format": "short_video",
            "tone": "casual",
            "offer": "-15%",
        },
    )
    lines = block.split("\n")
    assert lines[0] == "<b>AI 1: ES, deals</b> — 60 subscribers (50% of the audience)"
    assert lines[1] == "Demographics: " + "; ".join(["lang es"] * 4)
    assert lines[2] == "Geography: country ES &lt;Madrid&gt;"
    assert lines[3:5] == ["Interests: -", "Behaviours: -"]
    assert lines[5] == "Pain points: waits for a discount"
    assert lines[6] == "Send: short video · casual · offer -15%"


def test_a_fresh_profile_s_pain_points_show_as_a_stored_one_s() -> None:
    """A generation's reply reads the profiles as made (tuples), not as stored (lists)."""
    block = profile_block("AI 1", 5, {"pain_points": ("no time", "prices")})
    assert "Pain points: no time; prices" in block.split("\n")


def test_long_replies_go_in_as_few_pieces_as_fit() -> None:
    assert pieces(["a" * 10, "b" * 10, "c" * 10], limit=25) == [
        "a" * 10 + "\n\n" + "b" * 10,
        "c" * 10,
    ]
    assert pieces(["x" * 30], limit=25) == ["x" * 30]
    assert pieces([]) == []
