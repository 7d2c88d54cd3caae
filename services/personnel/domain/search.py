"""What search matches a record by: its name's words without diacritics (a name typed "Nguyen Van
Hung" or "nguyễn văn hùng" finds "Nguyễn Văn Hùng"), its date of birth (by the keyed hash the store
keeps beside the ciphertext), its position, its unit. Plain Python: no I/O."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from .definitions import RecordDefinition

_SPACES = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Lower case, no diacritics (đ as d), one space between words."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d").replace("Đ", "d"))
    plain = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return _SPACES.sub(" ", plain).strip()


def words(text: str) -> list[str]:
    return fold(text).split()


def keys(definition: RecordDefinition, fields: dict[str, Any]) -> dict[str, Any]:
    """The clear values search reads, from a record's current fields: `name` (folded, for sorting),
    its `words` and every beginning of them (`prefixes`: a name being typed is found by equality,
    which every store's index answers alike), `position`; `birth_date` stays for the store to hash,
    never stored as it is."""
    found: dict[str, Any] = {}
    if definition.search.name and isinstance(name := fields.get(definition.search.name), str):
        found["name"] = fold(name)
        found["words"] = sorted(set(words(name)))
        found["prefixes"] = sorted({w[:n] for w in found["words"] for n in range(1, len(w) + 1)})
    if definition.search.position and (position := fields.get(definition.search.position)):
        found["position"] = position
    if definition.search.birth_date and (born := fields.get(definition.search.birth_date)):
        found["birth_date"] = born
    return found
