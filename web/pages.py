"""What the administrators' and the Ministry's pages share (issue 15): who may open them, a
service's refusal turned into messages beside the fields, paging, and files passed on."""

from __future__ import annotations

import math
from collections.abc import Awaitable
from datetime import date
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from fastapi.responses import Response

from .app import Session
from .clients import ApiError

T = TypeVar("T")


def require_admin(session: Session) -> None:
    if not session.is_admin:
        raise ApiError(404, "not_found", "Trang này dành cho quản trị hệ thống")


def require_central(session: Session) -> None:
    if session.role != "central_admin":
        raise ApiError(404, "not_found", "Trang này dành cho quản trị hệ thống cấp Trung ương (Bộ Nội vụ)")


def field_errors(refused: ApiError, fields: dict[str, str], default: str) -> dict[str, str]:
    """A service's refusal as messages beside the form's fields: each error naming a field the form
    has (`fields`: the API's name -> the form's) goes there; the rest to `default`."""
    found: dict[str, str] = {}
    for e in refused.errors:
        name = fields.get(str(e.get("field", "")).split(".")[0])
        if name and name not in found:
            found[name] = e.get("message") or refused.message
    return found or {default: refused.message}


async def attempt(call: Awaitable[T], fields: dict[str, str], default: str) -> tuple[T, dict[str, str]]:
    """A form's request to a service: its answer and no errors, or its refusal (4xx) as messages
    beside the form's fields (`field_errors`); a failure of the service itself (5xx) is raised.
    The answer is None when there are errors: callers read it only when there are none."""
    try:
        return await call, {}
    except ApiError as refused:
        if refused.status >= 500:
            raise
        return cast(T, None), field_errors(refused, fields, default)


def pages(total: int, page_size: int) -> int:
    return max(1, math.ceil(total / max(page_size, 1)))


def base_url(path: str, **params: Any) -> str:
    """`path?` with the non-empty params, ready for `page=N` to be appended (the pagination macro)."""
    kept = {k: v for k, v in params.items() if v not in (None, "", False)}
    return f"{path}?{urlencode(kept)}&" if kept else f"{path}?"


def vn_day(text: str) -> date | None:
    """A day typed as dd/mm/yyyy (or yyyy-mm-dd); None when blank; ValueError when unreadable."""
    text = text.strip()
    if not text:
        return None
    if "/" in text:
        day, month, year = (int(p) for p in text.split("/"))
        return date(year, month, day)
    return date.fromisoformat(text)


def passed_on(file: Any, fallback_name: str) -> Response:
    """A file a service made (a sheet), passed on to the browser as it came."""
    return Response(
        file.content,
        media_type=file.headers.get("content-type"),
        headers={
            "Content-Disposition": file.headers.get("content-disposition", f'attachment; filename="{fallback_name}"'),
            "Cache-Control": "no-store",
        },
    )
