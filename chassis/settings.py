"""Settings every service shares; each service subclasses with its own prefix and defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# How long a service keeps an idle HTTP connection open. Its callers (the web front) must drop an
# idle connection sooner: one closed by the server as the caller sends on it is a request lost
# ("Server disconnected without sending a response"), seen as a 503 under load.
KEEP_ALIVE_SECONDS = 30


class ServiceSettings(BaseSettings):
    # Plain names (no prefix) for what operators set once for the whole platform.
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    service_name: str = "service"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    mongodb_url: str = "mongodb://127.0.0.1:27017/"
    database: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "info"

    # Verification of tokens issued by accounts, from its published key set.
    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    token_issuer: str = "moha-accounts"
    token_audience: str = "moha"

    # The broker user of each service whose events this one consumes (service name -> user); a
    # service not named here publishes as a user of its own name. JSON in BROKER_USERS.
    broker_users: dict[str, str] = Field(default_factory=dict)

    # Messaging: bounded prefetch, bounded retries with a delay, then the dead-letter queue.
    prefetch: int = 32
    delivery_limit: int = 10
    max_retries: int = 5
    retry_delay_ms: int = 2000

    # Outbox relay: each commit is published at once; the poll only catches what a crash left behind.
    relay_poll_seconds: float = 1.0
    relay_grace_seconds: float = 5.0
    relay_batch: int = 100

    # Behind the Ministry's reverse proxy, the caller's address is the first X-Forwarded-For hop.
    trust_forwarded_for: bool = False

    # Survey links travel sealed (chassis/sealing.py): forms holds the public key, notifications
    # the private one. Make a pair with `python -c "from chassis.sealing import Sealer;
    # print(Sealer.new_keypair())"` (private, public).
    survey_seal_key: str = ""
    survey_open_key: str = ""

    max_body_bytes: int = Field(default=1_000_000, description="largest accepted HTTP request body")
    # Sheets uploaded (units, accounts, respondent lists): read as a stream and refused past this.
    max_upload_bytes: int = Field(default=1_000_000, description="largest accepted uploaded sheet")

    # The interactive API page at /docs (Swagger UI from local files): for development; the
    # OpenAPI document itself (/openapi.json) is always served.
    api_docs: bool = False

    # What this process does (decision 0017): `all` (HTTP and consumers, the default), `http` (the API
    # and the outbox relay only: scaled on CPU) or `consumers` (the event consumers and background
    # jobs, HTTP for health and metrics only: scaled on queue length).
    service_role: Literal["all", "http", "consumers"] = "all"

    # Traces (chassis/tracing.py): `otlp` exports them to OTEL_EXPORTER_OTLP_ENDPOINT; off by default.
    otel_traces_exporter: str = "none"
