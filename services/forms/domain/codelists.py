"""Official code lists a form's answers are coded against (seed 001: "ghi mã ... theo các bảng mã
quy định"). Lists are data files in services/forms/codelists/, read once. Plain Python otherwise.

- vsic2018: the Vietnamese economic sectors (Hệ thống ngành kinh tế Việt Nam, Quyết định
  27/2018/QĐ-TTg), levels 1 (sections A–U) and 2 (88 divisions). Sources in codelists/README.md.
- vcpa2018: the Vietnamese product classification (Hệ thống ngành sản phẩm Việt Nam, Quyết định
  43/2018/QĐ-TTg). Its product codes have 7 digits and begin with the 2-digit division they come
  from. No verifiable copy of its 3,574 product codes could be sourced here, so until the official
  list is loaded as a file beside the others, a code is checked for its form and its division only.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

FILES = Path(__file__).resolve().parents[1] / "codelists"
# Lists that live in the service's read models, checked by the API rather than here: the
# administrative units, from accounts' events (the unit codes of the tree).
DYNAMIC = {"units": "Danh mục đơn vị hành chính"}


@dataclass(frozen=True)
class Entry:
    code: str
    level: int
    name: str
    parent: str | None


@dataclass(frozen=True)
class CodeList:
    name: str
    title: str
    entries: dict[str, Entry]
    # For a list known only by its structure: the codes' form, and the list their prefix is from.
    pattern: str | None = None
    prefix_of: CodeList | None = None
    prefix_length: int = 0

    def error(self, value: str, level: int | None = None) -> str | None:
        """Why `value` is not a code of this list (Vietnamese), or None if it is."""
        if self.pattern is not None:
            if not re.fullmatch(self.pattern, value):
                return f"mã '{value}' không đúng dạng mã của {self.title}"
            prefix = value[: self.prefix_length]
            if self.prefix_of is not None and prefix not in self.prefix_of.entries:
                return f"mã '{value}' không thuộc ngành cấp 2 nào ('{prefix}') của {self.prefix_of.title}"
            return None
        entry = self.entries.get(value)
        if entry is None:
            return f"mã '{value}' không có trong {self.title}"
        if level is not None and entry.level != level:
            return f"cần mã cấp {level} của {self.title}, '{value}' là mã cấp {entry.level}"
        return None


def _read(name: str, folder: Path = FILES) -> dict[str, Entry]:
    with (folder / f"{name}.csv").open(encoding="utf-8") as f:
        return {
            row["code"]: Entry(row["code"], int(row["level"]), row["name_vi"], row["parent"] or None)
            for row in csv.DictReader(f)
        }


def load(folder: Path = FILES) -> dict[str, CodeList]:
    vsic = CodeList("vsic2018", "Hệ thống ngành kinh tế Việt Nam 2018", _read("vsic2018", folder))
    title = "Hệ thống ngành sản phẩm Việt Nam 2018"
    if (folder / "vcpa2018.csv").exists():
        # The decision's appendix, once loaded as a file: product codes are checked exactly.
        vcpa = CodeList("vcpa2018", title, _read("vcpa2018", folder))
    else:
        vcpa = CodeList("vcpa2018", title, {}, pattern=r"\d{7}", prefix_of=vsic, prefix_length=2)
    return {vsic.name: vsic, vcpa.name: vcpa}


@cache
def code_lists() -> dict[str, CodeList]:
    return load()
