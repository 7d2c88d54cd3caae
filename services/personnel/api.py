"""Personnel's HTTP API: officials' records (and any other kind a definition describes) entered,
corrected, moved and imported by the units that manage them; a person's whole career; search,
late changes, scores, the autumn review and exports across the caller's area. Every read of a
record is logged (Decree 13/2023/NĐ-CP)."""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from chassis.auth import Principal
from chassis.clock import today_in_vietnam
from chassis.errors import Forbidden, NotFound
from chassis.http import CurrentPrincipal, client_ip, from_state
from chassis.sheet_http import read_sheet, streamed
from chassis.sheets import CSV_TYPE, XLSX_TYPE, csv_stream, write_csv, write_xlsx, xlsx_stream
from chassis.text import Input, MultiLine, SingleLine
from chassis.tree import UnitDirectory

from . import reports
from .domain import par_lists
from .domain.definitions import CODE, RecordDefinition
from .domain.imports import template_header
from .domain.model import Document, Record
from .domain.scores import autumn_period
from .store import DefinitionStore, RecordStore
from .usecases import Records

router = APIRouter()

Value = str | int | float | bool | None
FieldCode = Annotated[str, Field(pattern=CODE)]
Kind = Annotated[str, Query(pattern=CODE, description="the kind of record: official, unit_staffing, council_delegate…")]
Store = Annotated[RecordStore, Depends(from_state("records_store"))]
UseCases = Annotated[Records, Depends(from_state("records"))]
Definitions = Annotated[DefinitionStore, Depends(from_state("definitions"))]
Units = Annotated[UnitDirectory, Depends(from_state("units"))]
_SHEET_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


class DocumentIn(Input):
    model_config = ConfigDict(str_strip_whitespace=True)
    number: SingleLine = Field(min_length=1, max_length=100, description="số văn bản, e.g. 125/QĐ-UBND")
    date: dt.date = Field(description="the date it was issued")
    issuer: SingleLine = Field(min_length=1, max_length=300, description="cơ quan ban hành")

    def domain(self) -> Document:
        return Document(self.number, self.date.isoformat(), self.issuer)


class EntryIn(Input):
    process: str = Field(pattern=CODE, description="a process of the record kind's definition")
    document: DocumentIn | None = None
    effective_on: date
    values: dict[FieldCode, Value] = Field(default_factory=dict, max_length=200)
    expected_version: int | None = Field(default=None, ge=1, description="the version last read; 409 if it moved")


class OpenIn(EntryIn):
    kind: str = Field(default="official", pattern=CODE)
    unit_id: str = Field(min_length=1, max_length=64)


class MoveIn(EntryIn):
    to_unit_id: str = Field(min_length=1, max_length=64)


class CorrectionIn(Input):
    values: dict[FieldCode, Value] = Field(
        default_factory=dict, max_length=200, description="only the fields to correct; null clears one"
    )
    document: DocumentIn | None = None
    effective_on: date | None = None
    reason: MultiLine = Field(min_length=1, max_length=2000)
    expected_version: int | None = Field(default=None, ge=1)


class RecordView(BaseModel):
    record_id: str
    kind: str
    unit_id: str
    unit_code: str
    unit_name: str
    status: str | None
    status_label: str | None
    fields: dict[str, Any]
    lists: dict[str, list[dict[str, Any]]]
    completeness: dict[str, Any]
    last_change_at: datetime | None
    entries: int
    pending_move: dict[str, Any] | None
    moves: list[dict[str, Any]]
    version: int


class Page(BaseModel):
    items: list[dict[str, Any]]
    total: int
    more: bool = Field(description="the total is at least this: more were not counted")
    page: int
    page_size: int


# Definitions ------------------------------------------------------------------------------------
@router.get("/definitions", tags=["definitions"])
async def list_definitions(principal: CurrentPrincipal, definitions: Definitions) -> list[dict[str, Any]]:
    """The kinds of record, each with its latest version, title and processes."""
    del principal
    found = []
    for kind in await definitions.kinds():
        d = await definitions.latest(kind)
        if d is not None:
            found.append(
                {
                    "kind": d.kind,
                    "version": d.version,
                    "title": d.title,
                    "subject": d.subject,
                    "processes": [
                        {"code": p.code, "title": p.title, "opens": p.opens, "moves": p.moves, "timed": p.timed}
                        for p in d.processes
                    ],
                }
            )
    return found


@router.get("/definitions/{kind}", tags=["definitions"])
async def get_definition(
    kind: str, principal: CurrentPrincipal, definitions: Definitions, version: int | None = None
) -> RecordDefinition:
    del principal
    definition = await (definitions.get(kind, version) if version else definitions.latest(kind))
    if definition is None:
        raise NotFound("Không có loại hồ sơ này")
    return definition


@router.post("/definitions", status_code=201, tags=["definitions"])
async def publish_definition(
    body: RecordDefinition, principal: CurrentPrincipal, definitions: Definitions
) -> RecordDefinition:
    """Publish the next version of a kind of record (central administrators): a new process, field
    or code is data. Entries made under earlier versions keep being read with theirs."""
    if principal.role != "central_admin":
        raise Forbidden("Chỉ quản trị hệ thống cấp Trung ương ban hành định nghĩa hồ sơ")
    await definitions.publish(body)
    return body


# Records ----------------------------------------------------------------------------------------
@router.post("/records", status_code=201, tags=["records"])
async def open_record(body: OpenIn, principal: CurrentPrincipal, records: UseCases, tree: Units) -> RecordView:
    """Open a record with an opening process (a recruitment) and its document."""
    record = await records.open(
        principal,
        kind=body.kind,
        unit_id=body.unit_id,
        process=body.process,
        document=body.document.domain() if body.document else None,
        effective_on=body.effective_on.isoformat(),
        values=body.values,
    )
    return await _view(record, records, tree)


@router.get("/records/{record_id}", tags=["records"])
async def get_record(
    record_id: str, request: Request, principal: CurrentPrincipal, records: UseCases, store: Store, tree: Units
) -> RecordView:
    """A record as it stands now, for the unit that manages it and those above. Logged."""
    record = await records.readable(principal, record_id)
    await _logged(store, request, principal, "read", [record_id])
    return await _view(record, records, tree)


@router.get("/records/{record_id}/career", tags=["records"])
async def career(
    record_id: str, request: Request, principal: CurrentPrincipal, records: UseCases, store: Store, tree: Units
) -> dict[str, Any]:
    """The whole career on one page: every entry as it now reads, in the order it took effect,
    with its document, the unit that entered it, and its corrections (old and new values, who,
    when, why); and the record as it stands. Logged."""
    record = await records.readable(principal, record_id)
    await _logged(store, request, principal, "career", [record_id])
    definition, versions = await records.definition(record.kind)
    titles = {p.code: p.title for d in versions.values() for p in d.processes}
    units = {
        u["_id"]: u
        async for u in tree.units.find(
            {
                "_id": {
                    "$in": list(
                        {e.unit_id for e in record.entries} | {e.to_unit_id for e in record.entries if e.to_unit_id}
                    )
                }
            }
        )
    }
    entries = [
        {
            **line,
            "process_title": titles.get(line["process"], line["process"]),
            "unit_code": units.get(line["unit_id"], {}).get("code", ""),
            "unit_name": units.get(line["unit_id"], {}).get("name", ""),
        }
        for line in record.career()
    ]
    return {"record": await _view(record, records, tree), "entries": entries}


@router.post("/records/{record_id}/entries", status_code=201, tags=["records"])
async def enter(
    record_id: str, body: EntryIn, principal: CurrentPrincipal, records: UseCases, tree: Units
) -> dict[str, Any]:
    """Enter a change (an appointment, a salary raise, a reward…) with its document and effective
    date. Answers whether it was entered within 5 working days of its document."""
    record = await records.enter(
        principal,
        record_id,
        process=body.process,
        document=body.document.domain() if body.document else None,
        effective_on=body.effective_on.isoformat(),
        values=body.values,
        expected_version=body.expected_version,
    )
    return {"entry": record.entries[-1].as_doc(), "record": await _view(record, records, tree)}


@router.post("/records/{record_id}/entries/{entry_id}/corrections", status_code=201, tags=["records"])
async def correct(
    record_id: str, entry_id: str, body: CorrectionIn, principal: CurrentPrincipal, records: UseCases, tree: Units
) -> dict[str, Any]:
    """Correct what an entry says: the old values stay in the record, with who corrected them,
    when and why."""
    record = await records.correct(
        principal,
        record_id,
        entry_id,
        values=body.values,
        document=body.document.domain() if body.document else None,
        effective_on=body.effective_on.isoformat() if body.effective_on else None,
        reason=body.reason,
        expected_version=body.expected_version,
    )
    return {"entry": record.entries[-1].as_doc(), "record": await _view(record, records, tree)}


@router.post(
    "/records/{record_id}/moves",
    status_code=201,
    tags=["moves"],
    responses={202: {"description": "the move waits for the level that must decide (approvals)"}},
)
async def move(record_id: str, body: MoveIn, principal: CurrentPrincipal, records: UseCases, tree: Units) -> Any:
    """Move the record to another unit (mobilisation, transfer, rotation). Within the caller's own
    scope it moves at once (201). Otherwise (202) approvals asks the level that must decide: the
    units' common parent, or the province's Department of Home Affairs between its departments and
    districts; on approval the record moves with its whole history."""
    record, requested = await records.move(
        principal,
        record_id,
        process=body.process,
        to_unit_id=body.to_unit_id,
        document=body.document.domain() if body.document else None,
        effective_on=body.effective_on.isoformat(),
        values=body.values,
        expected_version=body.expected_version,
    )
    view = await _view(record, records, tree)
    payload = {"move": _move_view(requested), "record": view.model_dump(mode="json")}
    return JSONResponse(payload, status_code=201 if requested["status"] == "applied" else 202)


@router.get("/records/{record_id}/access-log", tags=["records"])
async def access_log(
    record_id: str, principal: CurrentPrincipal, records: UseCases, store: Store
) -> list[dict[str, Any]]:
    """Who read the record, when, how and from where (Decree 13/2023/NĐ-CP)."""
    await records.readable(principal, record_id)
    return [{k: v for k, v in entry.items() if k != "_id"} for entry in await store.access_log(record_id)]


# Search ------------------------------------------------------------------------------------------
@router.get("/records", tags=["search"])
async def search(
    request: Request,
    principal: CurrentPrincipal,
    records: UseCases,
    store: Store,
    tree: Units,
    kind: Kind = "official",
    q: Annotated[str | None, Query(max_length=200)] = None,
    birth_date: date | None = None,
    position: Annotated[str | None, Query(max_length=32)] = None,
    unit: Annotated[
        str | None,
        Query(max_length=64, description="a unit under the caller's, by id or code: its records and those below it"),
    ] = None,
    status: Annotated[str | None, Query(max_length=32, description="`all`, or a status (default: active)")] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 25,
) -> Page:
    """Records in the caller's scope (or under `unit`) by name (each word, diacritics aside; the
    last may be a beginning), date of birth, position; by name, paged. A search is logged with
    the records it showed."""
    area = await _area(records, tree, principal, unit)
    definition, versions = await records.definition(kind)
    sealed = await store.sealed(kind)
    query = reports.search_query(
        area, kind, definition, sealed, q=q, birth_date=birth_date, position=position, status=status
    )
    found = [doc async for doc in store.find(query, skip=(page - 1) * page_size, limit=page_size)]
    total = await store.count(query, reports.COUNT_CAP)
    units = {u["_id"]: u async for u in tree.units.find({"_id": {"$in": list({d["unit_id"] for d in found})}})}
    positions = _names(definition, definition.search.position)
    items = [
        {
            "record_id": d["_id"],
            "kind": d["kind"],
            "unit_id": d["unit_id"],
            "unit_code": units.get(d["unit_id"], {}).get("code", ""),
            "unit_name": units.get(d["unit_id"], {}).get("name", ""),
            "name": (d.get("fields") or {}).get(definition.search.name or ""),
            "position": d.get("search", {}).get("position"),
            "position_name": positions.get(d.get("search", {}).get("position") or ""),
            "status": d.get("status"),
            "status_label": definition.statuses.get(d.get("status") or ""),
            "last_change_at": d.get("last_change_at"),
        }
        for d in found
    ]
    if found:
        await _logged(store, request, principal, "search", [d["_id"] for d in found], area=area, count=total)
    return Page(items=items, total=total, more=total >= reports.COUNT_CAP, page=page, page_size=page_size)


# Imports ---------------------------------------------------------------------------------------
@router.post("/units/{unit_id}/records/import", status_code=201, tags=["records"], openapi_extra=_SHEET_BODY)
async def import_records(
    unit_id: str,
    request: Request,
    principal: CurrentPrincipal,
    records: UseCases,
    kind: Kind = "official",
    process: Annotated[str, Query(pattern=CODE)] = "import",
) -> dict[str, Any]:
    """A unit's records from a sheet (CSV or .xlsx), one per row, columns named by the fields' codes
    or labels (the template gives them). Every row is checked first; one bad row rejects the sheet
    with every bad row's problems, and nothing is stored."""
    await records.unit_in_scope(principal, unit_id)  # before a byte of the sheet is read
    return await records.import_sheet(principal, unit_id, kind, process, await read_sheet(request))


@router.get("/records-template", tags=["records"])
async def import_template(
    principal: CurrentPrincipal,
    records: UseCases,
    kind: Kind = "official",
    process: Annotated[str, Query(pattern=CODE)] = "import",
    format: Literal["xlsx", "csv"] = "xlsx",
) -> Response:
    """An empty sheet with the columns an import reads."""
    del principal
    definition, _ = await records.definition(kind)
    try:
        header = template_header(definition, definition.process(process))
    except KeyError:
        raise NotFound("Không có quy trình này") from None
    data = write_csv(header, []) if format == "csv" else write_xlsx("Hồ sơ", header, [])
    return Response(
        data,
        media_type=CSV_TYPE if format == "csv" else XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="mau-{kind}.{format}"'},
    )


# Exports, timeliness, scores -------------------------------------------------------------------
@router.get("/exports/records", tags=["exports"])
async def export_records(
    request: Request,
    principal: CurrentPrincipal,
    records: UseCases,
    store: Store,
    tree: Units,
    kind: Kind = "official",
    area: str | None = None,
    format: Literal["csv", "xlsx"] = "xlsx",
    personal_data: bool = False,
) -> StreamingResponse:
    """Every record of the kind in an area (the caller's own by default), as it stands, streamed.
    Protected fields (ID number, date of birth, ethnicity) only with `personal_data=true`, logged."""
    area_id = await _area(records, tree, principal, area)
    definition, _ = await records.definition(kind)
    sealed = await store.sealed(kind)
    await _logged(store, request, principal, "export_personal_data" if personal_data else "export", [], area=area_id)
    rows = reports.export_rows(store, tree, definition, sealed, area=area_id, kind=kind, personal_data=personal_data)
    header = reports.export_header(definition, personal_data)
    stream = csv_stream(header, rows) if format == "csv" else xlsx_stream("Hồ sơ", header, rows)
    return await streamed(
        stream,
        media_type=CSV_TYPE if format == "csv" else XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="ho-so-{kind}.{format}"'},
    )


@router.get("/timeliness/late", tags=["timeliness"])
async def late(
    principal: CurrentPrincipal,
    records: UseCases,
    store: Store,
    tree: Units,
    area: str | None = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page:
    """The changes entered later than 5 working days after their document, in an area (the
    caller's own by default), newest first: the unit, the process, the document, the working days."""
    area_id = await _area(records, tree, principal, area)
    end = to or today_in_vietnam()
    start = from_ or date(end.year, 1, 1)
    rows, total = await reports.late_changes(
        store,
        tree,
        viewer_unit=principal.unit_id,
        area=area_id,
        start=start,
        end=end,
        skip=(page - 1) * page_size,
        limit=page_size,
    )
    return Page(items=rows, total=total, more=False, page=page, page_size=page_size)


@router.get("/scores", tags=["timeliness"])
async def unit_scores(
    principal: CurrentPrincipal,
    records: UseCases,
    store: Store,
    tree: Units,
    kind: Kind = "official",
    area: str | None = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    as_of: date | None = None,
) -> dict[str, Any]:
    """Per unit and per area: the share of changes entered within 5 working days (from–to, by
    default this year), the completeness of the required fields of the active records, and how
    many have not been updated in a year (as of `as_of`, by default today)."""
    area_id = await _area(records, tree, principal, area)
    await records.definition(kind)
    today = today_in_vietnam()
    end = to or today
    return await reports.scores(
        store, tree, area=area_id, kind=kind, start=from_ or date(end.year, 1, 1), end=end, as_of=as_of or today
    )


@router.get("/reviews/autumn", tags=["timeliness"])
async def autumn_review(
    principal: CurrentPrincipal,
    records: UseCases,
    store: Store,
    tree: Units,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    area: str | None = None,
    format: Literal["xlsx", "csv"] = "xlsx",
) -> Response:
    """The department's autumn review of how each unit of an area keeps its officials' records
    (seed 003, 3): October to September, as of 30 September; one row per unit, the area's total,
    and (in Excel) a sheet per sub-area."""
    area_id = await _area(records, tree, principal, area)
    year = year or today_in_vietnam().year
    start, end = autumn_period(year)
    view = await reports.scores(store, tree, area=area_id, kind="official", start=start, end=end, as_of=end)
    quotas = await reports.staffing_quotas(store, area_id)
    rows = reports.autumn_rows(view, quotas, view["units"])
    name = f"ra-soat-{year}-{view['area']['code'] or area_id}.{format}"
    if format == "csv":
        data, media = write_csv(reports.AUTUMN_HEADER, rows), CSV_TYPE
    else:
        areas = [reports.AUTUMN_HEADER] + reports.autumn_rows(view, quotas, view["sub_areas"])[:-1]
        data, media = (
            write_xlsx(f"Rà soát {year}", reports.AUTUMN_HEADER, rows, extra_sheets={"Theo địa bàn": areas}),
            XLSX_TYPE,
        )
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/par-index/respondents", tags=["exports"])
async def par_respondents(
    request: Request,
    principal: CurrentPrincipal,
    records: UseCases,
    store: Store,
    tree: Units,
    area: str | None = None,
    format: Literal["xlsx", "csv"] = "xlsx",
) -> Response:
    """A province's respondent list for the PAR Index survey (seed 002), drafted from the records:
    provincial People's Council delegates, department leaders, leaders of their divisions, district
    People's Committees' chairs and vice-chairs; with forms' columns and group names, the e-mail
    left for the province to fill before it imports and sends the list. Logged."""
    area_id = await _area(records, tree, principal, area)
    rows = await reports.par_respondents(store, tree, area_id)
    await _logged(store, request, principal, "par_list", [], area=area_id, count=len(rows))
    name = f"danh-sach-khao-sat-{area_id}.{format}"
    data = write_csv(par_lists.HEADER, rows) if format == "csv" else write_xlsx("Danh sách", par_lists.HEADER, rows)
    return Response(
        data,
        media_type=CSV_TYPE if format == "csv" else XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# Helpers ---------------------------------------------------------------------------------------
async def _area(records: Records, tree: UnitDirectory, principal: Principal, area: str | None) -> str:
    """The area a read covers: the caller's unit, or a unit under it (by id or code)."""
    if not area:
        return principal.unit_id
    unit = await tree.get(area) or await tree.by_code(area)
    if unit is None:
        raise NotFound("Không tìm thấy đơn vị")
    await records.unit_in_scope(principal, unit["_id"])
    return unit["_id"]


async def _logged(
    store: RecordStore, request: Request, principal: Principal, action: str, record_ids: list[str], **extra: Any
) -> None:
    await store.log_access(
        account_id=principal.account_id,
        unit_id=principal.unit_id,
        role=principal.role,
        action=action,
        record_ids=record_ids,
        ip=client_ip(request),
        **extra,
    )


def _names(definition: RecordDefinition, field: str | None) -> dict[str, str]:
    f = definition.by_code.get(field or "")
    if f is None or f.code_list is None:
        return {}
    return {e.code: e.name for e in definition.code_lists[f.code_list].entries}


def _move_view(move: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in move.items() if k != "entry"}


async def _view(record: Record, records: Records, tree: UnitDirectory) -> RecordView:
    definition, versions = await records.definition(record.kind)
    state = record.state(versions)
    unit = await tree.get(record.unit_id) or {}
    filled, required = definition.completeness(state.fields)
    pending = record.pending_move()
    return RecordView(
        record_id=record.id,
        kind=record.kind,
        unit_id=record.unit_id,
        unit_code=unit.get("code", ""),
        unit_name=unit.get("name", ""),
        status=state.status,
        status_label=definition.statuses.get(state.status or ""),
        fields=state.fields,
        lists=state.lists,
        completeness={
            "filled": filled,
            "required": required,
            "missing": [f for f in definition.required_fields() if state.fields.get(f) in (None, "")],
        },
        last_change_at=state.last_change_at,
        entries=len(record.entries),
        pending_move=_move_view(pending) if pending else None,
        moves=[_move_view(m) for m in record.moves],
        version=record.version,
    )
