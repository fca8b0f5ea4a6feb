"""A NUL character written in a YAML file ("\0" in a double-quoted string) is refused with
its line, wherever segbot reads YAML: PostgreSQL's text cannot hold one, so a campaign or
journey saved with it would fail in the database instead of at the marketer's desk."""

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


def test_other_text_and_values_are_read_as_before() -> None:
    assert load_yaml('a: "\\t\\u00e9"\nb: 3\nc: [x, null]\n') == {
        "a": "\té",
        "b": 3,
        "c": ["x", None],
    }
