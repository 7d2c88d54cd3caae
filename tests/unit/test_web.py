"""The web front's pure parts: Vietnamese numbers and dates, typed answers, sealed values and
CSRF tokens, the session read from a token, which refusals of a service a page shows. No I/O."""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Any

import pytest

from web.answers import section_state, shown, typed
from web.app import Session, safe_next
from web.clients import ApiError
from web.format import vn_date, vn_datetime, vn_number, vn_percent, working_days_left
from web.pages import attempt, refusal
from web.security import Sealer

INTEGER = {"code": "A2.1", "type": "integer"}
NUMBER = {"code": "A3.3.1", "type": "number"}


def test_numbers_and_dates_are_written_the_vietnamese_way():
    assert vn_number(1234.5) == "1.234,5"
    assert vn_number(1234567) == "1.234.567"
    assert vn_number(0.25, 2) == "0,25"
    assert vn_percent(20.0) == "20,0%"
    assert vn_date("2026-04-12") == "12/04/2026"
    assert vn_datetime("2026-04-11T17:30:00+00:00") == "00:30 ngày 12/04/2026"  # Vietnam is UTC+7


def test_working_days_left_count_the_deadline_and_skip_days_off():
    assert working_days_left("2026-12-04", today=date(2026, 12, 1)) == 4  # Tue..Fri
    assert working_days_left("2026-12-05", today=date(2026, 12, 4)) == 2  # Saturday moves to Monday
    assert working_days_left("2026-12-01", today=date(2026, 12, 3)) == -2


def test_typed_answers_read_vietnamese_numbers_and_leave_the_rest_to_forms():
    assert typed(INTEGER, "1.234") == 1234
    assert typed(NUMBER, "1.200,5") == 1200.5
    assert typed(NUMBER, "3500") == 3500
    assert typed(INTEGER, "hai mươi") == "hai mươi"  # forms' rule engine names the problem
    assert typed({"type": "boolean"}, "true") is True
    assert shown(NUMBER, 1200.5) == "1200,5"
    assert shown({"type": "boolean"}, False) == "false"


def test_section_state_for_the_task_list():
    section = {"fields": [{"code": "a", "required": True}, {"code": "b"}], "only_when": None}
    assert section_state(section, {})[0] == "Chưa điền"
    assert section_state(section, {"b": 1})[0] == "Đang điền"
    assert section_state(section, {"a": 1})[0] == "Đã điền"
    only = {**section, "only_when": {"field": "x", "equals": True}}
    assert section_state(only, {"x": False})[0] == "Không phải kê khai"


def test_sealed_values_cannot_be_read_changed_or_moved_to_another_purpose():
    sealer = Sealer("a key")
    sealed = sealer.seal({"path": "/dot/x/muc/A1", "form": [["A1.1", "Xã Một"]]}, "pending")
    assert "Xã" not in sealed and sealer.open(sealed, "pending")["form"] == [["A1.1", "Xã Một"]]
    assert sealer.open(sealed, "session") is None
    assert sealer.open(sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1], "pending") is None
    assert Sealer("another key").open(sealed, "pending") is None


def test_csrf_tokens_are_keyed_to_the_cookie_and_the_key():
    sealer = Sealer("a key")
    token = sealer.csrf_for("cookie-1")
    assert sealer.csrf_ok("cookie-1", token)
    assert not sealer.csrf_ok("cookie-2", token)
    assert not sealer.csrf_ok(None, token) and not sealer.csrf_ok("cookie-1", None)
    assert not Sealer("another key").csrf_ok("cookie-1", token)


def test_only_a_path_of_this_site_is_a_place_to_go_back_to():
    assert safe_next("/dot/x?y=1") == "/dot/x?y=1"
    for outside in ("https://example.com/", "//example.com", "/\\example.com", None, "javascript:alert(1)"):
        assert safe_next(outside) == "/"


def test_a_session_reads_who_the_token_names():
    claims = {
        "sub": "acc",
        "username": "dv.1",
        "role": "reporting_unit",
        "unit_id": "u1",
        "exp": 2_000_000_000,
        "pwd_change": True,
    }
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    session = Session.from_token(f"h.{payload}.s")
    assert (session.account_id, session.unit_id, session.is_unit, session.password_change) == ("acc", "u1", True, True)


def test_the_web_front_drops_an_idle_connection_before_a_service_would():
    """A service closing an idle connection as the web front sends on it loses the request (a 503
    seen under load): the front's keep-alive must end first."""
    from chassis.settings import KEEP_ALIVE_SECONDS
    from web.clients import Services

    services = Services({"accounts": "http://127.0.0.1:1"}, timeout=1.0)
    pool = services.http["accounts"]._transport._pool  # httpx' connection pool: where the expiry lives
    assert pool._keepalive_expiry is not None and pool._keepalive_expiry < KEEP_ALIVE_SECONDS / 2


async def _answered(value: Any) -> Any:
    return value


async def _refused(status: int, code: str = "refused", errors: list[dict[str, Any]] | None = None) -> Any:
    raise ApiError(status, code, f"Từ chối {status}", errors or [])


async def test_a_page_gets_the_answer_or_the_refusal_of_a_service():
    assert await refusal(_answered({"id": "x"})) == ({"id": "x"}, None)
    answer, refused = await refusal(_refused(422, "invalid"))
    assert answer is None and refused is not None
    assert (refused.status, refused.code, refused.message) == (422, "invalid", "Từ chối 422")


async def test_a_failure_of_the_service_itself_is_raised_whatever_the_page_expects():
    for status in (500, 502, 503):
        with pytest.raises(ApiError):
            await refusal(_refused(status))
        with pytest.raises(ApiError):
            await refusal(_refused(status, "already_decided"), expected=(status, "already_decided"))


async def test_the_statuses_a_page_raises_also_go_to_the_error_pages_and_the_rest_come_back():
    for status in (401, 403, 404):
        with pytest.raises(ApiError):
            await refusal(_refused(status), raise_also=(401, 403, 404))
    assert (await refusal(_refused(404), raise_also=(401, 403)))[1] is not None
    assert (await refusal(_refused(403)))[1] is not None  # raised only where a page says so


async def test_a_page_expecting_some_refusals_by_status_or_code_gets_only_those():
    assert (await refusal(_refused(409), expected=(404, 409)))[1] is not None
    with pytest.raises(ApiError):
        await refusal(_refused(422), expected=(404, 409))
    assert (await refusal(_refused(409, "already_claimed"), expected=("already_claimed",)))[1] is not None
    with pytest.raises(ApiError):
        await refusal(_refused(409, "stale_revision"), expected=("already_claimed",))


async def test_a_forms_refusal_is_shown_beside_the_fields_it_names_the_rest_beside_the_default():
    rows = [{"field": "answers.A1", "message": "Sai mã"}, {"field": "year", "message": "Sai năm"}]
    assert await attempt(_answered(7), {"answers": "a1"}, "title") == (7, {})
    assert (await attempt(_refused(422, errors=rows), {"answers": "a1"}, "title"))[1] == {"a1": "Sai mã"}
    assert (await attempt(_refused(409), {"answers": "a1"}, "title"))[1] == {"title": "Từ chối 409"}
    with pytest.raises(ApiError):
        await attempt(_refused(403), {}, "title", raise_also=(401, 403))
