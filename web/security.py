"""What keeps a session safe: the sealed cookie, CSRF tokens, and the headers every answer carries.

The session cookie holds the access token sealed (AES-256-GCM, the key from SESSION_KEY): the
browser cannot read or change it, scripts cannot reach it (HttpOnly), and other sites cannot send
it (SameSite=Strict). Every state-changing form carries a CSRF token keyed to a random cookie of
its own, so a form posted from elsewhere, or without the token, is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import Request
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import Response

SESSION_COOKIE = "moha_session"
CSRF_COOKIE = "moha_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

# No inline script or style anywhere: every script and style sheet is a file of this origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


class Sealer:
    """Symmetric sealing of small JSON values (cookies, a form carried through sign-in)."""

    def __init__(self, key: str) -> None:
        raw = key.encode() if key else os.urandom(32)
        self._aead = AESGCM(hashlib.sha256(b"moha-web-seal:" + raw).digest())
        self._mac = hashlib.sha256(b"moha-web-mac:" + raw).digest()

    def seal(self, value: Any, purpose: str) -> str:
        nonce = os.urandom(12)
        data = self._aead.encrypt(nonce, json.dumps(value, separators=(",", ":")).encode(), purpose.encode())
        return base64.urlsafe_b64encode(nonce + data).decode().rstrip("=")

    def open(self, sealed: str | None, purpose: str) -> Any:
        if not sealed:
            return None
        try:
            blob = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
            return json.loads(self._aead.decrypt(blob[:12], blob[12:], purpose.encode()))
        except (ValueError, InvalidTag):
            return None

    def csrf_for(self, cookie_value: str) -> str:
        return hmac.new(self._mac, b"csrf:" + cookie_value.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, cookie_value: str | None, token: str | None) -> bool:
        if not cookie_value or not token:
            return False
        return hmac.compare_digest(self.csrf_for(cookie_value), token)


def new_csrf_cookie() -> str:
    return secrets.token_urlsafe(32)


def is_tls(request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    trust = getattr(request.app.state.settings, "trust_forwarded_for", False)
    return bool(trust and request.headers.get("x-forwarded-proto", "").split(",")[-1].strip() == "https")


def secure_cookies(request: Request) -> bool:
    mode = request.app.state.settings.cookie_secure.lower()
    return mode == "true" or (mode == "auto" and is_tls(request))


class SecurityHeaders(BaseHTTPMiddleware):
    """The web front's own headers (kept here, not in the services' HTTP shell): a strict CSP,
    no framing, no referrer beyond the origin, no sniffing; pages never stored by caches, since
    nearly every page carries personal or form data; static files may be."""

    async def dispatch(self, request: Request, call_next):
        started = time.perf_counter()
        response: Response = await call_next(request)
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Frame-Options", "DENY")
        # A survey page's address is its respondent's secret: sent to nobody, this site included.
        h.setdefault("Referrer-Policy", "no-referrer" if request.url.path.startswith("/s/") else "same-origin")
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if is_tls(request):
            h.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.url.path.startswith("/static/"):
            h.setdefault("Cache-Control", "public, max-age=3600")
        else:
            h["Cache-Control"] = "no-store"
            h.setdefault("Pragma", "no-cache")
        h["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response
