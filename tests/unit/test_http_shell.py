"""The HTTP shell every service sits in, on a small app of its own (no broker, no store): JSON numbers
the store could not keep, unhandled errors, security headers, and the OpenAPI contract."""

from __future__ import annotations

from typing import Literal

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel

import chassis.http
from chassis.http import CurrentPrincipal, MaybePrincipal, SignedInBeforePasswordChange, create_app, inline_style
from tests.support import faults


class Body(BaseModel):
    answers: dict[str, int | float | str | None]


router = APIRouter()


@router.post("/echo")
async def echo(body: Body) -> Body:
    return body


@router.get("/count")
async def count(n: int) -> dict[str, int]:
    # Stands for a store query: BSON refuses an integer beyond 64 bits with OverflowError.
    import bson

    bson.encode({"n": n})
    return {"n": n}


@router.get("/boom")
async def boom(request: Request) -> dict[str, str]:
    password = "Sentinel-Mat-Khau-0000"  # noqa: F841 - what a traceback with locals would print
    raise RuntimeError("forced")


STYLE = inline_style("h1{color:#8b0000}")


@router.get("/page", response_class=HTMLResponse)
async def page() -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>t</title><style>{STYLE}</style><h1>Trang</h1>")


@router.get("/items/{item_id}")
async def get_item(item_id: str, principal: CurrentPrincipal) -> dict[str, str]:
    return {"item_id": item_id}


@router.put("/items/{item_id}")
async def put_item(item_id: str, body: Body, principal: CurrentPrincipal) -> Body:
    return body


@router.get("/me")
async def me(principal: CurrentPrincipal) -> dict[str, str]:
    return {}


@router.post("/password")
async def password(body: Body, principal: SignedInBeforePasswordChange) -> dict[str, str]:
    return {}


@router.post("/s/{token}", responses={429: {"description": "too many answers from one place"}})
async def respond(token: str, body: Body, caller: MaybePrincipal) -> dict[str, str]:
    return {}


@router.get("/export")
async def export(principal: CurrentPrincipal, format: Literal["csv", "xlsx"] = "xlsx") -> Response:
    return Response(b"")


async def _ready() -> dict[str, bool]:
    return {"store": True}


def make_app(**options):
    app = create_app("test", verifier=None, max_body_bytes=100_000, readiness=_ready, **options)
    app.include_router(router)
    return app


@pytest.fixture
def http():
    return TestClient(make_app(), raise_server_exceptions=False)


def _post(http, raw: str):
    return http.post("/echo", content=raw.encode(), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"answers": {"A2.1": ' + "9" * 400 + "}}", "answers.A2.1"),
        ('{"answers": {"x": 9223372036854775808}}', "answers.x"),
        ('{"answers": {"x": -9223372036854775809}}', "answers.x"),
        ('{"answers": {"x": 1e400}}', "answers.x"),
        ('{"answers": {"x": NaN}}', "answers.x"),
        ('{"answers": {"x": -Infinity}}', "answers.x"),
        ('{"answers": {"list": [1, 2, 1' + "0" * 30 + "]}}", "answers.list.2"),
    ],
)
def test_json_numbers_the_store_cannot_keep_are_a_422_naming_the_field(http, raw, field):
    response = _post(http, raw)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    [problem] = error["errors"]
    assert problem["field"] == field and problem["type"] == "number_out_of_range"
    assert problem["message"].startswith("Số nằm ngoài khoảng")


def test_numbers_within_range_pass(http):
    response = _post(http, '{"answers": {"a": 9223372036854775807, "b": -9223372036854775808, "c": 1.5e308}}')
    assert response.status_code == 200, response.text
    assert response.json()["answers"]["a"] == 2**63 - 1


def test_json_nested_beyond_reason_is_a_422(http):
    response = _post(http, "[" * 30_000 + "]" * 30_000)
    assert response.status_code == 422
    assert response.json()["error"]["errors"][0]["type"] == "json_too_deep"


def test_an_overflow_anywhere_else_is_a_422_not_a_500(http):
    response = http.get("/count", params={"n": str(10**30)})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "number_out_of_range"


def test_an_unhandled_error_is_a_500_with_the_error_body_and_a_correlation_id(http):
    response = http.get("/boom", headers={"X-Correlation-ID": "abc-123"})
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error" and error["correlation_id"] == "abc-123"
    assert "RuntimeError" not in response.text and "forced" not in response.text
    assert response.headers["Cache-Control"] == "no-store"


def test_a_correlation_id_that_does_not_look_like_one_is_replaced(http):
    response = http.get("/health/live", headers={"X-Correlation-ID": "x" * 5000})
    assert len(response.headers["X-Correlation-ID"]) == 36


def test_json_answers_carry_the_security_headers(http):
    response = http.get("/health/live")
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    # Errors the shell answers itself carry them too.
    refused = http.get("/me")
    assert refused.status_code == 401 and refused.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_may_use_their_own_stylesheet_and_nothing_inline_else(http):
    policy = http.get("/page").headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert "'unsafe-inline'" not in policy and "http" not in policy
    assert "'sha256-" in directives["style-src"]  # the page's own <style>, by its hash
    assert directives["frame-ancestors"] == "'none'"


@pytest.fixture
def contract():
    return make_app().openapi()


def _responses(contract, path, method):
    return contract["paths"][path][method]["responses"]


def test_the_contract_lists_what_each_route_can_answer(contract):
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    signed_in_read = _responses(contract, "/items/{item_id}", "get")
    assert {"401", "403", "404", "422", "500"} <= set(signed_in_read) and "409" not in signed_in_read
    assert signed_in_read["401"]["content"]["application/json"]["schema"] == ref
    write = _responses(contract, "/items/{item_id}", "put")
    assert {"401", "403", "404", "409", "411", "413", "422"} <= set(write)
    assert write["422"]["content"]["application/json"]["schema"] == ref
    assert set(_responses(contract, "/me", "get")) == {"200", "401", "403", "500"}
    before_change = _responses(contract, "/password", "post")
    assert "401" in before_change and "403" not in before_change
    public = _responses(contract, "/s/{token}", "post")
    assert "401" not in public and {"404", "409", "413", "422", "429"} <= set(public)
    assert public["429"]["content"]["application/json"]["schema"] == ref and "Retry-After" in public["429"]["headers"]
    assert contract["paths"]["/s/{token}"]["post"]["security"] == [{}, {"HTTPBearer": []}]
    assert set(_responses(contract, "/health/live", "get")) == {"200", "500"}
    assert "HTTPValidationError" not in str(contract)
    assert "ErrorBody" in contract["components"]["schemas"]


def test_exports_say_they_answer_csv_or_xlsx(contract):
    content = _responses(contract, "/export", "get")["200"]["content"]
    assert set(content) == {"text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def test_docs_are_off_unless_asked_for(http):
    assert http.get("/docs").status_code == 404
    assert http.get("/openapi.json").status_code == 200


def test_docs_come_from_this_service_not_a_cdn():
    http = TestClient(make_app(docs=True))
    page = http.get("/docs")
    assert page.status_code == 200 and "<script" in page.text
    assert "http" not in page.text  # no address outside this service
    assert "<script>" not in page.text  # no inline script: the page's policy allows none
    for asset in ("init.js", "swagger-ui-bundle.js", "swagger-ui.css"):
        served = http.get(f"/docs/assets/{asset}")
        assert served.status_code == 200 and len(served.content) > 100, asset
    assert http.get("/docs/assets/..%2F..%2Fhttp.py").status_code == 404


def test_an_injected_fault_is_an_unhandled_error_only_when_enabled():
    assert TestClient(make_app()).post("/echo", json={"answers": {}}, headers={"X-Fault": "error"}).status_code == 200
    faults.error_header()  # as tests/support/faults.py does in a service process
    try:
        faulty = TestClient(make_app(), raise_server_exceptions=False)
    finally:
        chassis.http.FastAPI = FastAPI
    assert faulty.post("/echo", json={"answers": {}}).status_code == 200
    response = faulty.post("/echo", json={"answers": {}}, headers={"X-Fault": "error"})
    assert response.status_code == 500 and response.json()["error"]["code"] == "internal_error"


def test_the_frameworks_own_refusals_have_the_error_body(http):
    unknown = http.get("/no-such-address")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    wrong_method = http.delete("/echo")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"
    not_utf8 = http.post("/echo", content=b'{"answers": {"a": "\xff"}}', headers={"Content-Type": "application/json"})
    assert not_utf8.status_code == 422 and not_utf8.json()["error"]["errors"][0]["type"] == "json_invalid"
