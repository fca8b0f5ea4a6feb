r"""What YAML may write but segbot cannot keep is refused with its line, wherever segbot
reads YAML: a NUL character ("\0" in a double-quoted string), which PostgreSQL's text
cannot hold, so a campaign or journey saved with it would fail in the database instead of
at the marketer's desk; a number of more digits than Python reads, which was a
ValueError with no place; and a lone surrogate ("\ud800"), which crashed the check."""

import pytest

from broadcasts.spec import CampaignFileError, parse_campaign
from core.yaml_loading import YamlFileError, load_yaml


def test_a_nul_character_is_refused_with_its_line() -> None:
    with pytest.raises(YamlFileError) as error:
        load_yaml('name: c\nnote: "fine"\ntext: "a\\0b"\n')
    assert str(error.value) == (
        "not valid YAML at line 3, column 7: a NUL character (\\0), which no text may hold"
    )


def test_a_campaign_whose_text_holds_one_is_refused_when_saved() -> None:
    with pytest.raises(CampaignFileError) as error:
        parse_campaign('name: c\ndefault: {text: "Hi\\0"}\n', source="c.yaml")
    assert "line 2" in str(error.value)
    assert "NUL character" in str(error.value)


def test_a_number_of_more_digits_than_python_reads_is_refused_with_its_line() -> None:
    with pytest.raises(YamlFileError) as error:
        load_yaml(f"name: c\nsize: {'9' * 5000}\n")
    assert (
        str(error.value) == "not valid YAML at line 2, column 7: a number of more than 4,300 digits"
    )
    with pytest.raises(CampaignFileError, match="line 2"):
        parse_campaign(f"name: c\nholdout: {'1' * 4301}\n", source="c.yaml")


def test_other_text_and_values_are_read_as_before() -> None:
    assert load_yaml('a: "\\t\\u00e9"\nb: 3\nc: [x, null]\n') == {
        "a": "\té",
        "b": 3,
        "c": ["x", None],
    }


@pytest.mark.parametrize("text", ['"\\ud800"', '"\\ud83d hi"', '"hi \\ude00"'])
def test_a_lone_surrogate_is_refused_with_its_line(text: str) -> None:
    """Half of a character: it can be neither stored nor sent as UTF-8."""
    with pytest.raises(YamlFileError) as error:
        load_yaml(f"name: c\ncaption: {text}\n")
    assert str(error.value) == (
        "not valid YAML at line 2, column 10: a lone surrogate (\\ud800-\\udfff), "
        "which is no character"
    )


def test_a_surrogate_pair_is_the_character_it_makes() -> None:
    """How JSON writes an emoji beyond the first 65,536 characters."""
    assert load_yaml('text: "\\ud83d\\ude00 hi"\n') == {"text": "\U0001f600 hi"}
    spec = parse_campaign('name: c\ndefault: {text: "\\ud83d\\ude00 hi"}\n', source="c.yaml")
    assert spec.default is not None
