"""The campaign composer's form: what a marketer filled in, read back from the posted
fields, and the edits its buttons make (a target or an A/B variant added or removed).

The form is drawn again from this after every edit, as it was typed: numbers stay the
text that was entered, nothing is judged here. Judging is the campaign parser's job
(bot.console.campaign_spec turns the form into the spec `segbot campaign create` reads).
Field names: `t{i}-...` for target i, `t{i}-v{j}-...` for its variant j; per-language
texts and button labels end in `-{language}`.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from dataclasses import fields as fields_of

MAX_TARGETS = 10
MAX_VARIANTS = 4  # an A/B/C/D test
MAX_LANGUAGES = 8  # besides the campaign's own
VARIANT_NAMES = "abcd"
SEGMENT, PERSONA, QUERY, DEFAULT = "segment:", "persona:", "query", "default"
_EDIT = re.compile(r"^(add|remove)-(target|variant)(?:-([0-9]{1,3}))?(?:-([0-9]{1,3}))?$")
_LANGUAGE_SPLIT = re.compile(r"[\s,;]+")


@dataclass(slots=True)
class VariantForm:
    """One message of a target (several: an A/B test, each for `split` percent)."""

    name: str = "a"
    split: str = "100"
    texts: dict[str, str] = field(default_factory=dict)  # the text or caption, by language
    media: str = ""  # one item a line, "KIND REF" or a bare REF (a photo)
    buttons: str = ""  # one row a line: "Label | https://link  Label | https://link"
    labels: dict[str, str] = field(default_factory=dict)  # other languages' button labels
    effect: str = ""
    protect: bool = False
    link_preview: bool = True  # text messages


@dataclass(slots=True)
class TargetForm:
    """Who gets a message: `audience` is segment:NAME, persona:NAME, query or default."""

    audience: str = ""
    query: str = ""
    label: str = ""
    variants: list[VariantForm] = field(default_factory=lambda: [VariantForm()])


@dataclass(slots=True)
class CampaignForm:
    name: str = ""
    goal: str = "clicks"
    language: str = "en"
    other_languages: str = ""  # "es, pt-br": each message gets a text box per language
    holdout: str = "0"
    cap_messages: str = "1"
    cap_hours: str = "24"
    quiet_start: str = ""
    quiet_end: str = ""
    timezone: str = "UTC"
    unsubscribe: bool = True
    when: str = "now"  # bot.admin.draft.When
    day: str = ""
    time: str = ""
    cron: str = ""
    zone: str = "UTC"  # the schedule's
    targets: list[TargetForm] = field(default_factory=lambda: [TargetForm()])

    @property
    def languages(self) -> list[str]:
        """The campaign's language first, then the others given (at most MAX_LANGUAGES)."""
        default = self.language.strip().lower()
        others = [code.lower() for code in _LANGUAGE_SPLIT.split(self.other_languages) if code]
        unique = [code for code in dict.fromkeys(others) if code != default]
        return [default, *unique[:MAX_LANGUAGES]]


def read_form(fields: Mapping[str, str]) -> CampaignForm:
    """The form as posted (yes/no fields are "on" or not)."""
    fields = {name: value.replace("\r\n", "\n") for name, value in fields.items()}
    form = CampaignForm(
        **{name: str(fields.get(name, default)) for name, default in _TEXT_FIELDS.items()},
        unsubscribe=fields.get("unsubscribe", "on") == "on",
        targets=[],
    )
    languages = form.languages
    for i in range(_count(fields.get("targets", ""), MAX_TARGETS)):
        variants = [
            _variant(fields, f"t{i}-v{j}", languages)
            for j in range(_count(fields.get(f"t{i}-variants", ""), MAX_VARIANTS))
        ]
        form.targets.append(
            TargetForm(
                audience=fields.get(f"t{i}-audience", ""),
                query=fields.get(f"t{i}-query", ""),
                label=fields.get(f"t{i}-label", ""),
                variants=variants,
            )
        )
    return form


# The campaign-wide fields that are text, with their defaults.
_TEXT_FIELDS = {
    each.name: each.default for each in fields_of(CampaignForm) if isinstance(each.default, str)
}


def _variant(fields: Mapping[str, str], prefix: str, languages: list[str]) -> VariantForm:
    def text(name: str, default: str = "") -> str:
        return fields.get(f"{prefix}-{name}", default)

    return VariantForm(
        name=text("name", "a"),
        split=text("split", "100"),
        texts={language: text(f"text-{language}") for language in languages},
        media=text("media"),
        buttons=text("buttons"),
        labels={language: text(f"labels-{language}") for language in languages[1:]},
        effect=text("effect"),
        protect=text("protect") == "on",
        link_preview=text("link-preview", "on") == "on",
    )


def _count(value: str, most: int) -> int:
    """A posted count, at least 1 and at most `most` (not a number: 1)."""
    if not value.isascii() or not value.isdecimal():
        return 1
    return most if len(value) > len(str(most)) else max(1, min(int(value), most))


def edit(form: CampaignForm, action: str) -> None:
    """Apply a form button: add-target, remove-target-I, add-variant-I, remove-variant-I-J
    (anything else, or past a limit, changes nothing)."""
    match = _EDIT.match(action)
    if match is None:
        return
    verb, what, first, second = match.groups()
    targets = form.targets
    i = int(first) if first is not None else -1
    if what == "target":
        if verb == "add" and len(targets) < MAX_TARGETS:
            targets.append(TargetForm())
        elif verb == "remove" and 0 <= i < len(targets) and len(targets) > 1:
            del targets[i]
        return
    if not 0 <= i < len(targets):
        return
    variants = targets[i].variants
    j = int(second) if second is not None else -1
    if verb == "add" and len(variants) < MAX_VARIANTS:
        taken = {variant.name for variant in variants}
        name = next(letter for letter in VARIANT_NAMES if letter not in taken)
        variants.append(VariantForm(name=name))
    elif verb == "remove" and 0 <= j < len(variants) and len(variants) > 1:
        del variants[j]
    else:
        return
    for variant, split in zip(variants, _even(len(variants)), strict=True):
        variant.split = str(split)


def _even(parts: int) -> list[int]:
    """100 percent in `parts` shares as even as whole percents go: 34, 33, 33."""
    return [100 // parts + (1 if index < 100 % parts else 0) for index in range(parts)]
