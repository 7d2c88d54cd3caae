"""What every page shares: the session read from its sealed cookie, calls to the services on the
person's behalf, rendering with the layout (the unread count in the header), and the answers to
an expired session, a refused call or a service that does not answer."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from chassis.logging import get_logger

from .clients import ApiError, Services, ServiceUnavailable, SessionExpired, Timing
from .format import ROLES
from .security import CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, Sealer, new_csrf_cookie, secure_cookies

log = get_logger("web.app")
SIGN_IN = "/dang-nhap"


@dataclass
class Session:
    token: str
    account_id: str
    username: str
    role: str
    unit_id: str
    expires_at: float
    password_change: bool = False
    display_name: str = ""
    unit_name: str = ""
    started_at: float = 0.0

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)

    @property
    def is_unit(self) -> bool:
        return self.role == "reporting_unit"

    @property
    def is_supervisor(self) -> bool:
        return self.role in ("district_supervisor", "province_supervisor")

    @property
    def is_admin(self) -> bool:
        return self.role.endswith("_admin")

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at

    @classmethod
    def from_token(cls, token: str, **extra: Any) -> Session:
        """The token's own claims (the services verify it; the web front only reads who it names)."""
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return cls(
            token=token,
            account_id=claims["sub"],
            username=claims["username"],
            role=claims["role"],
            unit_id=claims["unit_id"],
            expires_at=float(claims["exp"]),
            password_change=bool(claims.get("pwd_change")),
            **extra,
        )


class NotSignedIn(Exception):
    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class PasswordChangeFirst(Exception):
    pass


def sealer(request: Request) -> Sealer:
    return request.app.state.sealer


def services(request: Request) -> Services:
    return request.app.state.services


def read_session(request: Request) -> Session | None:
    if "session" not in request.state._state:
        data = sealer(request).open(request.cookies.get(SESSION_COOKIE), "session")
        session = None
        if isinstance(data, dict):
            try:
                session = Session(**data)
            except TypeError:
                session = None
        request.state.session = session
    return request.state.session


def session_too_old(request: Request, session: Session) -> bool:
    return time.time() - session.started_at > request.app.state.settings.session_max_age_seconds


def session_of(request: Request) -> Session:
    """The signed-in person, for pages that need one: otherwise to sign-in, and back here after."""
    session = read_session(request)
    if session is None:
        raise NotSignedIn()
    if session.expired or session_too_old(request, session):
        raise SessionExpired("Phiên đăng nhập đã hết hạn")
    if session.password_change:
        raise PasswordChangeFirst()
    return session


RENEW_BEFORE_SECONDS = 300


async def signed_in(request: Request) -> Session:
    """A FastAPI dependency: the session, checked. A person at work keeps working: a token with
    less than five minutes left is exchanged for a fresh one (the cookie is rewritten on the way
    out); one left idle past its expiry means signing in again."""
    session = session_of(request)
    if request.method == "GET" and not request.headers.get("HX-Request"):
        # The header's unread count, asked while the page's own calls run.
        request.state.unread = asyncio.create_task(unread_count(request, session))
    if session.expires_at - time.time() < RENEW_BEFORE_SECONDS:
        try:
            token = await api(request, "accounts", "POST", "/auth/refresh", session=session)
        except ApiError:
            return session
        fresh = Session.from_token(
            token["access_token"],
            display_name=session.display_name,
            unit_name=session.unit_name,
            started_at=session.started_at,
        )
        request.state.session = request.state.renewed = fresh
        return fresh
    return session


def store_session(request: Request, response: Response, session: Session) -> None:
    request.state.session = session
    # No max-age: the cookie lasts until the browser closes, and the age sealed inside it ends the
    # session on the server, which can then say it ended rather than act as if none had begun.
    response.set_cookie(
        SESSION_COOKIE,
        sealer(request).seal(asdict(session), "session"),
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
    )


def end_session(request: Request, response: Response) -> None:
    request.state.session = None
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=secure_cookies(request))


def client_address(request: Request) -> str | None:
    if request.app.state.settings.trust_forwarded_for and (fwd := request.headers.get("x-forwarded-for")):
        return fwd.split(",")[-1].strip()
    return request.client.host if request.client else None


def timing(request: Request) -> Timing:
    if "timing" not in request.state._state:
        request.state.timing = Timing()
    return request.state.timing


async def api(
    request: Request, service: str, method: str, path: str, *, session: Session | None = None, **kw: Any
) -> Any:
    """A call to a service as the signed-in person (or as nobody, for public routes)."""
    token = session.token if session is not None else None
    return await services(request).call(
        service, method, path, token=token, forwarded_for=client_address(request), timing=timing(request), **kw
    )


# CSRF --------------------------------------------------------------------------------------
def csrf_cookie(request: Request) -> str:
    """The random value the page's CSRF token is keyed to: the browser's, or a new one."""
    value = request.cookies.get(CSRF_COOKIE) or request.state._state.get("new_csrf")
    if not value:
        value = request.state.new_csrf = new_csrf_cookie()
    return value


def csrf_token(request: Request) -> str:
    return sealer(request).csrf_for(csrf_cookie(request))


class CsrfRefused(Exception):
    pass


async def check_csrf(request: Request) -> None:
    """Every state-changing request carries the token (a form field, or htmx's header)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    token = request.headers.get(CSRF_HEADER)
    if token is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if not sealer(request).csrf_ok(request.cookies.get(CSRF_COOKIE), token):
        raise CsrfRefused()


# rendering ---------------------------------------------------------------------------------
def templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


async def unread_count(request: Request, session: Session | None) -> int | None:
    if session is None or session.password_change or session.expired:
        return None
    try:
        found = await api(request, "notifications", "GET", "/inbox/unread", session=session)
        return int(found["unread"])
    except (ApiError, ServiceUnavailable, SessionExpired, KeyError, TypeError):
        return None  # the header's count must never break a page


async def render(
    request: Request, template: str, status_code: int = 200, *, partial: bool = False, **context: Any
) -> HTMLResponse:
    session = read_session(request)
    context.setdefault("errors", {})
    pending = request.state._state.get("unread")
    if partial:
        unread = None
        if pending is not None:
            pending.cancel()
    else:
        unread = await pending if pending is not None else await unread_count(request, session)
    ctx = {
        "request": request,
        "session": session,
        "csrf": csrf_token(request),
        "csrf_field": CSRF_FIELD,
        "unread": unread,
        **context,
    }
    response = templates(request).TemplateResponse(request, template, ctx, status_code=status_code)
    remember_csrf(request, response)
    return response


def remember_csrf(request: Request, response: Response) -> None:
    if new := request.state._state.get("new_csrf"):
        response.set_cookie(
            CSRF_COOKIE, new, httponly=True, samesite="strict", secure=secure_cookies(request), path="/"
        )


def redirect(url: str, request: Request | None = None) -> Response:
    """After a POST: to the next page, with GET (303); htmx follows HX-Redirect instead."""
    if request is not None and request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None) -> str:
    """Only a path of this site: never another site (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def sign_in_url(request: Request, reason: str | None = None) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    params = {"next": here} if here != "/" else {}
    if reason:
        params["ly_do"] = reason
    return SIGN_IN + ("?" + urlencode(params, quote_via=quote) if params else "")
