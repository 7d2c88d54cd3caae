"""The HTTP shell every service's API sits in: correlation ids, body limits, token checking,
health, errors turned into clear messages (Vietnamese for people, codes for programs), security
headers on every response, and an OpenAPI document that lists the errors each route can answer
(docs/decisions/0012-http-hardening.md)."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import typing
import uuid
from collections.abc import Awaitable, Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Request, routing
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .auth import Principal, TokenVerifier, Unauthenticated
from .errors import DomainError, Forbidden
from .logging import bind_contextvars, clear_contextvars, get_logger
from .store import StaleVersion

log = get_logger("chassis.http")

CORRELATION_HEADER = "X-Correlation-ID"

# Pydantic's error types, said in Vietnamese; anything else falls back to pydantic's text.
_VI_MESSAGES = {
    "missing": "Thiếu thông tin bắt buộc",
    "extra_forbidden": "Trường này không được phép",
    "json_invalid": "Nội dung không phải JSON hợp lệ",
    "model_attributes_type": "Phải là một đối tượng JSON",
    "dict_type": "Phải là một đối tượng JSON",
    "string_type": "Phải là chuỗi ký tự",
    "string_too_short": "Chuỗi ký tự quá ngắn",
    "string_too_long": "Chuỗi ký tự quá dài",
    "string_pattern_mismatch": "Không đúng định dạng",
    "int_type": "Phải là số nguyên",
    "int_parsing": "Phải là số nguyên",
    "bool_type": "Phải là đúng/sai",
    "greater_than_equal": "Giá trị quá nhỏ",
    "less_than_equal": "Giá trị quá lớn",
    "literal_error": "Giá trị không thuộc danh sách cho phép",
    "value_error": "Giá trị không hợp lệ",
    "too_long": "Quá nhiều phần tử",
}


_HTTP_ERRORS = {
    400: ("invalid_request", "Dữ liệu gửi lên không đọc được"),
    404: ("not_found", "Không có địa chỉ này"),
    405: ("method_not_allowed", "Địa chỉ này không nhận phương thức yêu cầu"),
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _invalid(field: str, kind: str, message: str, detail: str) -> JSONResponse:
    problem = {"field": field, "type": kind, "message": message, "detail": detail}
    return JSONResponse(error_body("invalid_request", "Dữ liệu gửi lên không hợp lệ", errors=[problem]), 422)


# A correlation id from outside is kept only if it looks like one: it goes into every log line.
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def create_app(
    title: str,
    *,
    verifier: TokenVerifier | None,
    max_body_bytes: int,
    readiness: Callable[[], Awaitable[dict[str, bool]]],
    lifespan: Any = None,
    docs: bool = False,
) -> FastAPI:
    # The OpenAPI document is always served (it is the contract other ministries generate clients
    # from); the interactive page only when `docs` (API_DOCS), from local files, never a CDN.
    app = FastAPI(
        title=title,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.verifier = verifier
    _document_errors(app)
    if docs:
        _serve_docs(app)

    @app.middleware("http")
    async def shell(request: Request, call_next):
        clear_contextvars()
        cid = request.headers.get(CORRELATION_HEADER, "")
        if not _CORRELATION_ID.match(cid):
            cid = str(uuid.uuid4())
        bind_contextvars(correlation_id=cid, method=request.method, path=loggable_path(request.url.path))
        try:
            response = await _refused(request, max_body_bytes) or await call_next(request)
        except Exception:  # noqa: BLE001 - the one place an unexpected error becomes a 500
            # Logged with its frames, never their values (chassis/logging.py); the caller gets the
            # correlation id to quote, nothing of the internals.
            log.exception("unhandled error")
            response = JSONResponse(
                error_body(
                    "internal_error",
                    "Hệ thống gặp lỗi ngoài dự kiến; hãy thử lại sau hoặc báo cho quản trị hệ thống kèm mã tra cứu",
                    correlation_id=cid,
                ),
                500,
            )
        response.headers[CORRELATION_HEADER] = cid
        _secure(request, response)
        log.info("http request", status=response.status_code)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p != "body") or "body",
                "type": e["type"],
                "message": _VI_MESSAGES.get(e["type"], e.get("msg", "")),
                "detail": e.get("msg", ""),
            }
            for e in exc.errors()
        ]
        return JSONResponse(error_body("invalid_request", "Dữ liệu gửi lên không hợp lệ", errors=errors), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # The framework's own refusals (no such address, method not allowed) in the same body as ours.
        code, message = _HTTP_ERRORS.get(exc.status_code, ("http_error", "Yêu cầu không được chấp nhận"))
        return JSONResponse(error_body(code, message), exc.status_code, headers=exc.headers)

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(_request: Request, exc: Unauthenticated) -> JSONResponse:
        return JSONResponse(
            error_body("unauthenticated", f"Chưa đăng nhập hoặc {exc}"),
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, **(exc.details or {})), status_code=exc.status)

    @app.exception_handler(OverflowError)
    async def overflow(_request: Request, _exc: OverflowError) -> JSONResponse:
        # A number that passed validation but that the store cannot hold (a query parameter
        # beyond 64 bits): the caller's input, refused, with nothing written.
        return JSONResponse(error_body("number_out_of_range", NUMBER_OUT_OF_RANGE), 422)

    @app.exception_handler(StaleVersion)
    async def stale(_request: Request, _exc: StaleVersion) -> JSONResponse:
        return JSONResponse(
            error_body("stale_version", "Dữ liệu đã được người khác thay đổi; hãy tải lại rồi thử lại"), 409
        )

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/health/ready",
        tags=["health"],
        responses={503: {"description": "the store, the broker or a consumer is not available"}},
    )
    async def ready() -> JSONResponse:
        checks = await readiness()
        ok = all(checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503)

    return app


async def _refused(request: Request, max_body_bytes: int) -> JSONResponse | None:
    """A request the shell answers itself, before any route: too large, of unstated length, or JSON
    with numbers the store could not keep."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
        return JSONResponse(
            error_body("payload_too_large", f"Dữ liệu gửi lên vượt quá {max_body_bytes} byte"), status_code=413
        )
    if length is None and "transfer-encoding" in request.headers:
        # A body of unstated length would be read whole before any limit could apply.
        return JSONResponse(error_body("length_required", "Phải ghi rõ độ dài dữ liệu gửi lên"), 411)
    if length in (None, "0") or not _is_json(request.headers.get("content-type")):
        return None
    try:
        paths = out_of_range_numbers(await request.body())
    except RecursionError:
        return _invalid("body", "json_too_deep", "Nội dung JSON lồng nhau quá sâu", "JSON nested too deep")
    except UnicodeDecodeError:
        return _invalid(
            "body", "json_invalid", "Nội dung không phải JSON hợp lệ (phải mã hóa UTF-8)", "body is not UTF-8"
        )
    except ValueError:
        return None  # not JSON at all: the route's own validation says so, in its words
    if paths:
        return _invalid(
            paths[0],
            "number_out_of_range",
            NUMBER_OUT_OF_RANGE,
            "integers are signed 64-bit; numbers are finite (no NaN, no Infinity)",
        )
    return None


def _is_json(content_type: str | None) -> bool:
    # FastAPI reads a body without a content type as JSON too.
    media = (content_type or "application/json").split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


# The store keeps signed 64-bit integers and finite doubles (BSON): what JSON may carry beyond
# that (a 400-digit integer, 1e400, NaN, Infinity) is refused at the door, for every route.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
NUMBER_OUT_OF_RANGE = (
    "Số nằm ngoài khoảng cho phép: số nguyên có giá trị tuyệt đối tối đa "
    "9.223.372.036.854.775.807, số thực phải hữu hạn"
)


class _OutOfRange(str):
    """Stands in, while parsing, for a number the store could not keep."""


def _int(text: str) -> int | _OutOfRange:
    if len(text) > 20:  # also spares int() a huge string
        return _OutOfRange(text)
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else _OutOfRange(text)


def _float(text: str) -> float | _OutOfRange:
    value = float(text)
    return value if math.isfinite(value) else _OutOfRange(text)


def out_of_range_numbers(body: bytes) -> list[str]:
    """The dotted paths of the numbers in a JSON document that the store could not keep (empty if
    none). Raises ValueError if it is not JSON, RecursionError if nested beyond reason."""
    found: list[bool] = []

    def constant(text: str) -> _OutOfRange:
        found.append(True)
        return _OutOfRange(text)

    def integer(text: str) -> int | _OutOfRange:
        value = _int(text)
        if isinstance(value, _OutOfRange):
            found.append(True)
        return value

    def real(text: str) -> float | _OutOfRange:
        value = _float(text)
        if isinstance(value, _OutOfRange):
            found.append(True)
        return value

    document = json.loads(body, parse_int=integer, parse_float=real, parse_constant=constant)
    return [".".join(path) or "body" for path in _marked(document, [])] if found else []


def _marked(value: Any, path: list[str]) -> Iterator[list[str]]:
    if isinstance(value, _OutOfRange):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _marked(item, [*path, str(key)])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _marked(item, [*path, str(index)])


_bearer = HTTPBearer(auto_error=False)


class SessionCheck(Protocol):
    async def check(self, principal: Principal) -> None: ...


async def _signed_in(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("thiếu mã truy cập")
    verifier: TokenVerifier = request.app.state.verifier
    principal = await verifier.verify(credentials.credentials)
    sessions: SessionCheck = request.app.state.sessions
    await sessions.check(principal)
    bind_contextvars(account_id=principal.account_id)
    return principal


async def _principal(principal: Annotated[Principal, Depends(_signed_in)]) -> Principal:
    if principal.password_change_required:
        raise Forbidden("Bạn phải đổi mật khẩu được cấp trước khi sử dụng hệ thống", code="password_change_required")
    return principal


async def _maybe_signed_in(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal | None:
    """For public routes (a survey respondent's link): who the caller is, if it sent a valid token."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        return None
    try:
        return await request.app.state.verifier.verify(credentials.credentials)
    except Unauthenticated:
        return None


def from_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency for what bootstrap put on `app.state` (a store, the tree): `Depends(from_state("tasks"))`.
    Async on purpose: FastAPI runs a plain function dependency in a worker thread, a thread hop
    per dependency per request (a tenth of forms' CPU in the profile of decision 0018)."""

    async def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    get.__name__ = f"state_{name}"
    return get


# Every route takes this one; only changing the issued password takes the other.
CurrentPrincipal = Annotated[Principal, Depends(_principal)]
SignedInBeforePasswordChange = Annotated[Principal, Depends(_signed_in)]
MaybePrincipal = Annotated[Principal | None, Depends(_maybe_signed_in)]


# A survey respondent's personal link is a secret: it never goes into a log line.
_SECRET_SEGMENT = re.compile(r"(/s/)[^/]+")


def loggable_path(path: str) -> str:
    return _SECRET_SEGMENT.sub(r"\1{token}", path)


def client_ip(request: Request) -> str | None:
    """The caller's address, for audit trails and burst checks. Behind the Ministry's proxy it is
    the hop the proxy appended (the last one): earlier hops are whatever the client sent."""
    if getattr(request.app.state, "trust_forwarded_for", False) and (
        forwarded := request.headers.get("x-forwarded-for")
    ):
        return forwarded.split(",")[-1].strip()
    return request.client.host if request.client else None


# Security headers ------------------------------------------------------------------------------
# Every response: nothing may frame it, sniff its type, learn the page it came from (a survey link
# carries its token in the path) or keep it in a cache (nearly every answer holds personal data; a
# route that serves something public and stable sets its own Cache-Control).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# JSON and files: nothing to run, nothing to load, no base to change.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_inline_styles: set[str] = set()


def inline_style(css: str) -> str:
    """A page's own inline stylesheet, allowed by its hash (CSP level 2) rather than by allowing any
    inline style. Returns the text unchanged, to put between <style> tags exactly as given."""
    _inline_styles.add("'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'")
    return css


def page_policy() -> str:
    """HTML pages: scripts and stylesheets from this origin only (no inline script, no CDN), inline
    stylesheets only those registered by hash, forms posted only back here, never framed."""
    styles = " ".join(["'self'", *sorted(_inline_styles)])
    return (
        f"default-src 'none'; script-src 'self'; style-src {styles}; img-src 'self' data:; font-src 'self'; "
        f"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def _secure(request: Request, response: Response) -> None:
    headers = response.headers
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    html = headers.get("content-type", "").startswith("text/html")
    headers.setdefault("Content-Security-Policy", page_policy() if html else API_POLICY)
    headers.setdefault("Cache-Control", "no-store")
    if request.url.scheme == "https" or (
        getattr(request.app.state, "trust_forwarded_for", False) and request.headers.get("x-forwarded-proto") == "https"
    ):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")


# /docs from local files --------------------------------------------------------------------------
_DOCS = Path(__file__).parent / "docs"


def _swagger_assets() -> Path:
    # Swagger UI's bundle and stylesheet as the pinned `fastapi-offline` package ships them.
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def _serve_docs(app: FastAPI) -> None:
    assets = {
        "init.js": _DOCS / "init.js",
        "swagger-ui-bundle.js": _swagger_assets() / "swagger-ui-bundle.js",
        "swagger-ui.css": _swagger_assets() / "swagger-ui.css",
    }

    @app.get("/docs", include_in_schema=False)
    async def docs_page() -> FileResponse:
        return FileResponse(_DOCS / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        path = assets.get(name)
        if path is None:
            return JSONResponse(error_body("not_found", "Không tìm thấy tệp này"), 404)
        return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})


# The OpenAPI contract: what each route can answer besides success -------------------------------
class Problem(BaseModel):
    """One problem of a refused request: a field of the body or query, or a row of a sheet."""

    model_config = ConfigDict(extra="allow")
    message: str = Field(description="for people, in Vietnamese")
    field: str | None = Field(default=None, description="the field, dotted: answers.A2.1")
    row: int | None = Field(default=None, description="the row of an uploaded sheet")
    type: str | None = Field(default=None, description="for programs: missing, number_out_of_range, ...")
    detail: str | None = None


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str = Field(
        description="for programs, in English: unauthenticated, forbidden, not_found, "
        "stale_version, payload_too_large, invalid_request, internal_error, ..."
    )
    message: str = Field(description="for people, in Vietnamese")
    errors: list[Problem] | None = Field(default=None, description="each problem, when there are several")
    correlation_id: str | None = Field(default=None, description="with internal_error: quote it to operators")


class ErrorBody(BaseModel):
    """Every error of every service has this body."""

    error: ErrorDetail


ERROR_DESCRIPTIONS = {
    401: "Not signed in: no token, or one expired, forged or ended (revoked account, password reset)",
    403: "Signed in but not allowed: role or scope, or the issued password must be changed first "
    "(`password_change_required`)",
    404: "Not found, or outside the caller's scope: the two answer alike",
    409: "Conflicts with the current state: changed meanwhile (`stale_version`), already done, or not "
    "possible in this state",
    411: "A request body must state its length (`length_required`)",
    413: "Request body larger than the service accepts (`payload_too_large`)",
    422: "Refused input: `invalid_request` with `errors` per field (numbers beyond 64 bits included), or a rule "
    "of the domain (its own `code`)",
    429: "Too many attempts: wait as long as `Retry-After` says",
    500: "Unexpected error: nothing of it is shown; quote `correlation_id`",
}
_EXPORT_TYPES = {
    "csv": ("text/csv", {"type": "string"}),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        {"type": "string", "format": "binary"},
    ),
}
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _calls(dependant: Any) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _params(dependant: Any, kind: str) -> Iterator[Any]:
    yield from getattr(dependant, kind)
    for sub in dependant.dependencies:
        yield from _params(sub, kind)


def api_routes(app: FastAPI) -> list[Any]:
    """Every documented API route of the app, as the app serves it (with its routers' own settings)."""
    return [
        c
        for c in routing.iter_route_contexts(app.routes)
        if isinstance(c.original_route, APIRoute) and c.include_in_schema
    ]


def error_statuses(route: Any) -> set[int]:
    """What a route can answer besides success, from what it depends on: a token (401), a
    principal past its first password change (403), a path naming something (404), a write (409),
    a body or a write (411, 413, 422), any other input (422). A route declares the rest itself
    (`responses=`)."""
    calls = set(_calls(route.dependant))
    signed_in = _signed_in in calls
    path = any(True for _ in _params(route.dependant, "path_params"))
    query = any(True for _ in _params(route.dependant, "query_params"))
    body = route.body_field is not None or "requestBody" in (route.openapi_extra or {})
    statuses = {500}
    if signed_in:
        statuses.add(401)
    if _principal in calls:
        statuses.add(403)
    if path or (signed_in and (query or body)):
        statuses.add(404)
    if route.methods & _WRITES and (signed_in or path):
        statuses.add(409)
    if body or route.methods & _WRITES:
        # The shell refuses an oversized body, or JSON numbers out of range, whatever reads it.
        statuses |= {411, 413, 422}
    if path or query:
        statuses.add(422)
    return statuses


def _document_errors(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _add_errors(generate(), api_routes(app))
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _add_errors(schema: dict[str, Any], routes: list[Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    body_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(body_schema.pop("$defs", {}))
    components["ErrorBody"] = body_schema
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for route in routes:
        calls = set(_calls(route.dependant))
        for method in route.methods - {"HEAD"}:
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            # The route's own `responses=` may add statuses (429 where it throttles): they get the body too.
            declared = {int(s) for s in responses if s.isdigit() and int(s) in ERROR_DESCRIPTIONS}
            for status in sorted(error_statuses(route) | declared):
                entry = responses.setdefault(str(status), {})
                if entry.get("description") in (
                    None,
                    "",
                    "Validation Error",
                    "Additional Response",
                    HTTPStatus(status).phrase,
                ):
                    entry["description"] = ERROR_DESCRIPTIONS[status]
                entry["content"] = content
                if status == 401:
                    entry["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}}
                if status == 429:
                    entry["headers"] = {
                        "Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}
                    }
            _document_success(route, operation)
            if _maybe_signed_in in calls and _signed_in not in calls:
                operation["security"] = [{}, {"HTTPBearer": []}]  # a token is optional here
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}" not in json.dumps(schema):
            components.pop(unused, None)


def _document_success(route: Any, operation: dict[str, Any]) -> None:
    """Files: a route with a `format` query of csv/xlsx answers those media types, not JSON; a route
    that may answer a page says text/html."""
    success = next((operation["responses"][s] for s in sorted(operation["responses"]) if s.startswith("2")), None)
    if success is None:
        return
    formats = [
        arg
        for p in _params(route.dependant, "query_params")
        if p.name == "format"
        for arg in typing.get_args(p.field_info.annotation)
        if arg in _EXPORT_TYPES
    ]
    if formats:
        success["content"] = {_EXPORT_TYPES[f][0]: {"schema": _EXPORT_TYPES[f][1]} for f in formats}
    returned = route.endpoint.__annotations__.get("return")
    if (isinstance(returned, str) and "HTMLResponse" in returned) or HTMLResponse in typing.get_args(returned):
        success.setdefault("content", {})["text/html"] = {"schema": {"type": "string"}}
