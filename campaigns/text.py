"""Text that can be stored: what SQLite and PostgreSQL both take.

PostgreSQL refuses a NUL character in text, and neither database (nor UTF-8) can hold a
lone surrogate (``"\\ud800"``, which JSON can carry). Such text is refused where it comes
in, naming the field, instead of failing in the database.
"""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(value: Any) -> str | None:
    """Why ``value`` (a string, or lists and dicts of them) cannot be stored, or None."""
    if isinstance(value, str):
        found = _UNSTORABLE.search(value)
        if found is None:
            return None
        return (
            "contains a NUL character" if found.group() == "\x00" else "contains a lone surrogate"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            why = unstorable(key) or unstorable(item)
            if why:
                return why
    elif isinstance(value, list | tuple):
        for item in value:
            why = unstorable(item)
            if why:
                return why
    return None


def check_storable(value: Any) -> Any:
    """``value`` unchanged; ValueError if any of its text cannot be stored (see module)."""
    why = unstorable(value)
    if why:
        raise ValueError(f"{why}, which cannot be stored")
    return value
