"""The HTTP shell every service's API sits in: correlation ids, body limits, token checking,
health, and errors turned into clear messages (Vietnamese for people, codes for programs)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def create_app(
    title: str,
    *,
    verifier: TokenVerifier | None,
    max_body_bytes: int,
    readiness: Callable[[], Awaitable[dict[str, bool]]],
    lifespan: Any = None,
) -> FastAPI:
    app = FastAPI(title=title, lifespan=lifespan)
    app.state.verifier = verifier

    @app.middleware("http")
    async def correlation_and_limits(request: Request, call_next):  # type: ignore[no-untyped-def]
        clear_contextvars()
        cid = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
        bind_contextvars(correlation_id=cid, method=request.method, path=loggable_path(request.url.path))
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
            response = JSONResponse(
                error_body("payload_too_large", f"Dữ liệu gửi lên vượt quá {max_body_bytes} byte"), status_code=413
            )
        elif length is None and "transfer-encoding" in request.headers:
            # A body of unstated length would be read whole before any limit could apply.
            response = JSONResponse(error_body("length_required", "Phải ghi rõ độ dài dữ liệu gửi lên"), 411)
        else:
            response = await call_next(request)
        response.headers[CORRELATION_HEADER] = cid
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

    @app.exception_handler(StaleVersion)
    async def stale(_request: Request, _exc: StaleVersion) -> JSONResponse:
        return JSONResponse(
            error_body("stale_version", "Dữ liệu đã được người khác thay đổi; hãy tải lại rồi thử lại"), 409
        )

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", tags=["health"])
    async def ready() -> JSONResponse:
        checks = await readiness()
        ok = all(checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503)

    return app


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


def from_state(name: str) -> Callable[[Request], Any]:
    """A dependency for what bootstrap put on `app.state` (a store, the tree): `Depends(from_state("tasks"))`."""

    def get(request: Request) -> Any:
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
