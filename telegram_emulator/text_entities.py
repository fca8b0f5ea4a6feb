"""Plain text plus message entities, with offsets counted in UTF-16 code units like Telegram."""

from dataclasses import dataclass, field

from telegram_emulator.json_types import JSON, JSONObject


def utf16_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji is often 2)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True, slots=True)
class FormattedText:
    """What a chat shows: text with markup removed, and the entities describing the markup."""

    text: str
    entities: list[JSONObject] = field(default_factory=list)

    @property
    def length(self) -> int:
        return utf16_length(self.text)


class FormattedTextBuilder:
    """Accumulates plain text and entities while a markup parser walks its input."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._entities: list[tuple[int, int, JSONObject]] = []
        self.offset = 0

    def append(self, text: str) -> None:
        self._parts.append(text)
        self.offset += utf16_length(text)

    def add_entity(self, entity_type: str, start: int, **extra: JSON) -> None:
        """Close an entity that began at UTF-16 offset `start`; empty entities are dropped."""
        length = self.offset - start
        if length > 0:
            entity: JSONObject = {"type": entity_type, "offset": start, "length": length, **extra}
            # Telegram lists entities by offset, an enclosing entity before the ones inside.
            self._entities.append((start, -length, entity))

    def build(self) -> FormattedText:
        entities = [entity for *_, entity in sorted(self._entities, key=lambda item: item[:2])]
        return FormattedText(text="".join(self._parts), entities=entities)
