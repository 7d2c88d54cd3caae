"""What the Ministry's pages need (issue 15): every published form and its versions, and the code
lists with their size. Read-only; any signed-in account may read what it already may fetch one
by one (`GET /definitions`, `GET /codelists/{name}`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from chassis.http import CurrentPrincipal, from_state

from . import usecases
from .usecases import Forms

router = APIRouter()
Service = Annotated[Forms, Depends(from_state("forms"))]


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
    principal: CurrentPrincipal, forms: Service, form_code: Annotated[str | None, Query(max_length=32)] = None
) -> list[VersionRow]:
    """Every published version of every form (or of one), by form code then version, each with
    its title and size; the versions themselves from `GET /definitions?form_code=&version=`."""
    del principal
    return [VersionRow(**row) for row in await usecases.definition_versions(forms, form_code)]


@router.get("/codelists", tags=["definitions"])
async def list_code_lists(principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """The official code lists answers are coded against: name, title, how many entries at each
    level, and the form of the codes where only that is known (`pattern`)."""
    del principal
    return usecases.code_list_summaries()
