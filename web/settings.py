"""The web front's settings: where the services answer, and the key its cookies are sealed with."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    service_name: str = "web"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "info"

    # The services' HTTP APIs (their Kubernetes Services, Compose names, or loopback ports).
    accounts_url: str = "http://127.0.0.1:8001"
    forms_url: str = "http://127.0.0.1:8002"
    approvals_url: str = "http://127.0.0.1:8003"
    notifications_url: str = "http://127.0.0.1:8004"
    api_timeout_seconds: float = 15.0

    # Seals the session cookie (AES-GCM) and keys the CSRF tokens. The same value on every replica;
    # when empty a random key is made at start, so sessions end at every restart.
    session_key: str = Field(default="", repr=False)
    # Secure cookies: "auto" sets them when the request came over TLS (directly, or as the proxy's
    # X-Forwarded-Proto says when TRUST_FORWARDED_FOR is on); "true" always; "false" never.
    cookie_secure: str = "auto"
    # A session lasts at most this long, whatever the tokens inside it (signing in again renews it).
    session_max_age_seconds: int = 12 * 3600
    # Behind the Ministry's proxy: the caller's address and scheme from X-Forwarded-For/-Proto
    # (the last hop, the one the proxy appended).
    trust_forwarded_for: bool = False
    max_body_bytes: int = 1_000_000
    # A sheet uploaded through a page (multipart): a little over the services' own cap on a sheet,
    # so that theirs answers, with its message.
    max_upload_bytes: int = 1_100_000
    page_size: int = 25
