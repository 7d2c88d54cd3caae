"""Journey 5, progress: an area's counts and percentages per state, each sub-area with a bar (an
SVG drawn by the server from a template) and a link down to it, the units with their state, the
late units with their working days late, and the Excel download approvals serves."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .. import app as shared
from ..app import Session, api, redirect, render
from ..format import PROGRESS_TAGS

router = APIRouter()
Signed = Depends(shared.signed_in)

# The states in the order a form goes through them, with the bar's colours (GOV.UK palette).
ORDER = ["confirmed", "approved_level", "under_review", "submitted", "returned", "draft", "not_started"]
COLOURS = {
    "confirmed": "#00703c",
    "approved_level": "#28a197",
    "under_review": "#4c2c92",
    "submitted": "#1d70b8",
    "returned": "#d4351c",
    "draft": "#5694ca",
    "not_started": "#b1b4b6",
}


@router.get("/tien-do")
async def campaigns(request: Request, session: Session = Signed) -> Response:
    found = await api(request, "forms", "GET", "/campaigns", session=session)
    if len(found["items"]) == 1:
        return redirect(f"/tien-do/{quote(found['items'][0]['campaign_id'])}")
    return await render(request, "home.html", title="Tiến độ", campaigns=found["items"], queue=None)


def bars(areas: list[dict[str, Any]], width: int = 640, row: int = 34) -> dict[str, Any]:
    """Each sub-area's states as one stacked bar, in SVG coordinates (the template draws them)."""
    label_w, bar_w = 200, width - 200 - 60
    rows = []
    for i, a in enumerate(areas):
        total = a["summary"]["units"] or 1
        x, parts = label_w, []
        for state in ORDER:
            n = a["summary"]["counts"].get(state, 0)
            if n:
                w = bar_w * n / total
                parts.append({"state": state, "x": round(x, 1), "w": round(w, 1), "n": n, "colour": COLOURS[state]})
                x += w
        rows.append(
            {
                "name": a["name"],
                "y": i * row,
                "parts": parts,
                "done": a["summary"]["percent"].get("confirmed", 0.0),
                "units": a["summary"]["units"],
            }
        )
    return {
        "rows": rows,
        "width": width,
        "height": max(len(rows) * row, row),
        "label_w": label_w,
        "bar_w": bar_w,
        "row": row,
    }


@router.get("/tien-do/{cid}")
async def area(
    cid: str, request: Request, area: str | None = None, tat_ca: int = 0, session: Session = Signed
) -> Response:
    params: dict[str, Any] = {"area": area} if area else {}
    view = await api(request, "approvals", "GET", f"/progress/{quote(cid)}", session=session, params=params)
    campaign = await api(request, "forms", "GET", f"/campaigns/{quote(cid)}", session=session)
    crumbs: list[dict[str, Any]] = []
    if area and area != session.unit_id:
        unit = await api(request, "accounts", "GET", f"/units/{quote(view['area']['unit_id'])}", session=session)
        for ancestor in unit["path"]:
            if ancestor == session.unit_id or crumbs:
                try:
                    a = await api(request, "accounts", "GET", f"/units/{ancestor}", session=session)
                    crumbs.append({"unit_id": a["unit_id"], "name": a["name"]})
                except Exception:  # noqa: BLE001 - a crumb never breaks the page
                    pass
    summary = view["summary"]
    states = [
        {
            "state": s,
            "label": summary["labels"][s],
            "count": summary["counts"][s],
            "percent": summary["percent"][s],
            "css": PROGRESS_TAGS[s],
            "colour": COLOURS[s],
        }
        for s in ORDER
    ]
    units = view.get("units", [])
    return await render(
        request,
        "progress/area.html",
        title=f"Tiến độ: {view['area']['name']}",
        view=view,
        campaign=campaign,
        states=states,
        chart=bars(view["areas"]),
        crumbs=crumbs,
        units=units,
        tags=PROGRESS_TAGS,
        area=area or "",
        all_units=bool(tat_ca),
    )


@router.get("/tien-do/{cid}/tai-xuong")
async def download(cid: str, request: Request, area: str | None = None, session: Session = Signed) -> Response:
    params = {"format": "xlsx", **({"area": area} if area else {})}
    sheet = await api(
        request, "approvals", "GET", f"/progress/{quote(cid)}/export", session=session, params=params, raw=True
    )
    return Response(
        sheet.content,
        media_type=sheet.headers.get("content-type"),
        headers={
            "Content-Disposition": sheet.headers.get(
                "content-disposition", f'attachment; filename="tien-do-{cid}.xlsx"'
            ),
            "Cache-Control": "no-store",
        },
    )
