"""One TLS context per process for the HTTP clients of the deploy tools and the tests.

httpx builds a TLS context for every client it makes, plain http or not: 20-30 ms of CPU each,
reading the whole CA bundle. Waiting for a service to be ready, or asking the broker's management
API, makes a client each time, and a test run does both hundreds of times."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def client_tls() -> ssl.SSLContext:
    """The context httpx would build for a client of its own (certifi's CA bundle, verified)."""
    return httpx.create_ssl_context()
