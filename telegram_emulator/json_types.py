"""JSON value types shared by the emulator modules."""

from typing import TypeAlias

JSON: TypeAlias = "str | int | float | bool | list[JSON] | dict[str, JSON] | None"
JSONObject: TypeAlias = dict[str, JSON]
JSONList: TypeAlias = list[JSON]
