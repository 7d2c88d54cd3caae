"""Wires the web front: settings, the services' clients, templates, headers, routes and the
answers to an expired session, a refused form or a service that does not answer."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import jinja2
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from chassis.logging import bind_contextvars, clear_contextvars, get_logger

from . import app as shared
from .clients import ApiError, Services, ServiceUnavailable, SessionExpired
from .format import FILTERS, field_id
from .routes import admin, audit, inbox, ministry, notices, par, people, progress, review, sheets, signin, survey, unit
from .security import Sealer, SecurityHeaders
from .settings import WebSettings

log = get_logger("web")
HERE = Path(__file__).resolve().parent


def build(settings: WebSettings | None = None) -> tuple[FastAPI, WebSettings]:
    settings = settings or WebSettings()
    if not settings.session_key:
        log.warning("SESSION_KEY is not set: a random key is used, sessions end when this process stops")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await app.state.services.close()

    app = FastAPI(title="MOHA web", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.sealer = Sealer(settings.session_key)
    app.state.services = Services(
        {
            "accounts": settings.accounts_url,
            "forms": settings.forms_url,
            "approvals": settings.approvals_url,
            "notifications": settings.notifications_url,
        },
        settings.api_timeout_seconds,
    )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(FILTERS)
    env.globals["field_id"] = field_id
    env.filters["pairs"] = lambda values: [(str(v), str(v)) for v in values or []]
    app.state.templates = Jinja2Templates(env=env)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    guarded = [Depends(shared.check_csrf)]
    for module in (signin, unit, review, progress, inbox, survey, admin, people, sheets, audit, ministry, notices, par):
        app.include_router(module.router, dependencies=guarded)

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        # Ready when accounts answers: without it nobody can sign in.
        try:
            ok = (await app.state.services.http["accounts"].get("/health/live", timeout=2.0)).status_code == 200
        except Exception:  # noqa: BLE001
            ok = False
        return JSONResponse({"status": "ok" if ok else "unavailable"}, 200 if ok else 503)

    app.add_middleware(SecurityHeaders)

    @app.middleware("http")
    async def correlation_and_limits(request: Request, call_next):
        clear_contextvars()
        cid = str(uuid.uuid4())
        bind_contextvars(correlation_id=cid, method=request.method, path=_loggable(request.url.path))
        length = request.headers.get("content-length")
        # A sheet uploaded from a page may be as large as the services take one (MAX_UPLOAD_BYTES).
        cap = (
            max(settings.max_body_bytes, settings.max_upload_bytes)
            if request.headers.get("content-type", "").startswith("multipart/form-data")
            else settings.max_body_bytes
        )
        if length is not None and (not length.isdigit() or int(length) > cap):
            response: Response = Response("Dữ liệu gửi lên quá lớn", status_code=413)
        else:
            response = await call_next(request)
        if (renewed := request.state._state.get("renewed")) is not None and request.state._state.get("session"):
            shared.store_session(request, response, renewed)
        response.headers["X-Correlation-ID"] = cid
        if not request.url.path.startswith("/static/"):
            log.info("page", status=response.status_code)
        return response

    @app.exception_handler(shared.NotSignedIn)
    async def not_signed_in(request: Request, _exc: shared.NotSignedIn) -> Response:
        if request.method == "POST":  # e.g. the browser dropped the cookie: keep what was posted
            return await expired(request, SessionExpired())
        return _to_sign_in(request, None)

    @app.exception_handler(shared.PasswordChangeFirst)
    async def password_first(request: Request, _exc: shared.PasswordChangeFirst) -> Response:
        return (
            shared.redirect("/doi-mat-khau", request)
            if request.method != "GET"
            else RedirectResponse("/doi-mat-khau", status_code=303)
        )

    @app.exception_handler(SessionExpired)
    async def expired(request: Request, _exc: SessionExpired) -> Response:
        if request.headers.get("HX-Request"):
            # Mid-typing: say so beside the form and change nothing else on the page (the fields
            # stay as typed); the next full save carries the values through sign-in.
            response = await shared.render(request, "partials/expired.html", partial=True)
            response.headers["HX-Reswap"] = "none"
            return response
        if request.method == "POST":
            return await signin.sign_in_again(request)
        to_sign_in = _to_sign_in(request, "het-han")
        shared.end_session(request, to_sign_in)
        return to_sign_in

    @app.exception_handler(shared.CsrfRefused)
    async def csrf_refused(request: Request, _exc: shared.CsrfRefused) -> Response:
        return await shared.render(
            request,
            "error.html",
            403,
            title="Biểu mẫu không hợp lệ",
            message="Biểu mẫu đã hết hạn hoặc không được gửi từ trang của hệ thống. Hãy tải lại trang rồi thử lại.",
        )

    @app.exception_handler(ServiceUnavailable)
    async def unavailable(request: Request, _exc: ServiceUnavailable) -> Response:
        return await shared.render(
            request,
            "error.html",
            503,
            title="Hệ thống đang bận",
            message="Một phần của hệ thống tạm thời không trả lời. Những gì bạn đã lưu "
            "không bị mất; hãy thử lại sau ít phút.",
        )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if exc.status == 404:
            return await shared.render(request, "error.html", 404, title="Không tìm thấy trang", message=exc.message)
        if exc.status == 403 and exc.code == "password_change_required":
            return RedirectResponse("/doi-mat-khau", status_code=303)
        return await shared.render(
            request,
            "error.html",
            exc.status if exc.status < 500 else 502,
            title="Không thực hiện được",
            message=exc.message,
        )

    @app.exception_handler(404)
    async def not_found(request: Request, _exc: Exception) -> Response:
        return await shared.render(
            request,
            "error.html",
            404,
            title="Không tìm thấy trang",
            message="Địa chỉ này không có trong hệ thống. Hãy kiểm tra lại đường dẫn.",
        )

    return app, settings


def _to_sign_in(request: Request, reason: str | None) -> Response:
    url = shared.sign_in_url(request, reason)
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _loggable(path: str) -> str:
    return (
        "/s/{token}" + path[path.find("/", 3) :]
        if path.startswith("/s/") and path.count("/") > 2
        else ("/s/{token}" if path.startswith("/s/") else path)
    )
