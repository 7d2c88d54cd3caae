"""What the administrators' and the Ministry's pages share (issue 15): who may open them, a
service's refusal turned into messages beside the fields, paging, and files passed on."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Collection
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


async def refusal(
    call: Awaitable[T], *, raise_also: Collection[int] = (), expected: Collection[int | str] = ()
) -> tuple[T, ApiError | None]:
    """A request to a service whose refusal the page answers itself: its answer and None, or None
    and the refusal (the answer is then None: read it only when the refusal is None).
    Which refusals a page gets is decided here alone. Never a failure of the service (5xx), nor a
    status in `raise_also`: those go to the app's handlers (bootstrap.api_error), because a 403
    (may not do this) or a 404 (the page's own thing is gone) is better said by an error page than
    by the form shown again, and 403 password_change_required leads to the password page. When
    `expected` names statuses or codes, only a refusal with one of them: the page answers those
    and nothing else."""
    try:
        return await call, None
    except ApiError as refused:
        if refused.status >= 500 or refused.status in raise_also:
            raise
        if expected and refused.status not in expected and refused.code not in expected:
            raise
        return cast(T, None), refused


async def attempt(
    call: Awaitable[T], fields: dict[str, str], default: str, *, raise_also: Collection[int] = ()
) -> tuple[T, dict[str, str]]:
    """A form's request to a service: its answer and no errors, or its refusal as messages beside
    the form's fields (`field_errors`); what `refusal` raises is raised.
    The answer is None when there are errors: callers read it only when there are none."""
    answer, refused = await refusal(call, raise_also=raise_also)
    return answer, field_errors(refused, fields, default) if refused is not None else {}


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
