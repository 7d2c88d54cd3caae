"""What the Ministry's pages need (issue 15): every published form and its versions, and the code
lists with their size. Read-only; any signed-in account may read what it already may fetch one
by one (`GET /definitions`, `GET /codelists/{name}`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from chassis.http import CurrentPrincipal, from_state

from .domain.codelists import DYNAMIC, code_lists
from .store import DefinitionStore

router = APIRouter()
Definitions = Annotated[DefinitionStore, Depends(from_state("definitions"))]


class VersionRow(BaseModel):
    form_code: str
    version: int
    title: str
    sections: int
    fields: int
    rules: int
    latest: bool


@router.get("/definitions/versions", tags=["definitions"])
async def definition_versions(
    principal: CurrentPrincipal, definitions: Definitions, form_code: Annotated[str | None, Query(max_length=32)] = None
) -> list[VersionRow]:
    """Every published version of every form (or of one), by form code then version, each with
    its title and size; the versions themselves from `GET /definitions?form_code=&version=`."""
    del principal
    found = await definitions.versions(form_code)
    latest = {code: version for code, version in found}
    rows = []
    for code, version in found:
        definition = await definitions.get(code, version)
        if definition is None:
            continue
        rows.append(
            VersionRow(
                form_code=code,
                version=version,
                title=definition.title,
                sections=len(definition.sections),
                fields=len(definition.fields),
                rules=len(definition.rules),
                latest=latest[code] == version,
            )
        )
    return rows


@router.get("/codelists", tags=["definitions"])
async def list_code_lists(principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """The official code lists answers are coded against: name, title, how many entries at each
    level, and the form of the codes where only that is known (`pattern`)."""
    del principal
    found: list[dict[str, Any]] = []
    for code_list in code_lists().values():
        levels: dict[str, int] = {}
        for entry in code_list.entries.values():
            levels[str(entry.level)] = levels.get(str(entry.level), 0) + 1
        found.append(
            {
                "name": code_list.name,
                "title": code_list.title,
                "entries": len(code_list.entries),
                "levels": levels,
                "pattern": code_list.pattern,
                "dynamic": False,
            }
        )
    found += [
        {"name": name, "title": title, "entries": None, "levels": {}, "pattern": None, "dynamic": True}
        for name, title in DYNAMIC.items()
    ]
    return found
