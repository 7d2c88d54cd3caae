"""What an unhandled error writes to the log: where it happened, never the values it was handling.
Both paths are tried: the platform's own structlog loggers and the standard library's (uvicorn's
"Exception in ASGI application", FastStream's, asyncio's)."""

import io
import json
import logging
import sys

import pytest
from pydantic import BaseModel

from chassis.logging import configure, get_logger

SECRET = "Sentinel-Mat-Khau-7731"


class Login(BaseModel):
    username: str
    password: int


def _fail_with_secrets(password: str) -> None:
    initial_password = password  # noqa: F841 - a local a traceback with locals would print
    body = {"password": password, "token": "s/" + password}  # noqa: F841
    raise RuntimeError("the store is away")


@pytest.fixture
def logs(monkeypatch):
    """The service's log stream (its stdout), as configured in a service process."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stream)
    configure("test", "info")
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    logging.getLogger().handlers.clear()


def test_structlog_tracebacks_name_the_frames_but_carry_no_locals(logs):
    try:
        _fail_with_secrets(SECRET)
    except RuntimeError:
        get_logger("test").exception("unhandled error")
    out = logs()
    text = json.dumps(out, ensure_ascii=False)
    assert SECRET not in text
    [line] = out
    [stack] = line["exception"]
    assert stack["exc_type"] == "RuntimeError" and stack["exc_value"] == "the store is away"
    assert any(f["name"] == "_fail_with_secrets" for f in stack["frames"])
    assert all("locals" not in f for f in stack["frames"])


def test_stdlib_tracebacks_carry_no_locals(logs):
    try:
        _fail_with_secrets(SECRET)
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    out = logs()
    assert SECRET not in json.dumps(out, ensure_ascii=False)
    [line] = out
    assert line["message"] == "Exception in ASGI application" and line["logger"] == "uvicorn.error"
    assert any(f["name"] == "_fail_with_secrets" for f in line["exception"][0]["frames"])


def test_a_validation_error_is_logged_without_the_values_it_refused(logs):
    try:
        try:
            Login(username="a", password=SECRET)
        except Exception as inner:
            raise RuntimeError("login failed") from inner
    except RuntimeError:
        get_logger("test").exception("unhandled error")
    out = logs()
    assert SECRET not in json.dumps(out, ensure_ascii=False)
    stacks = out[0]["exception"]
    refused = next(s for s in stacks if s["exc_type"] == "ValidationError")
    assert "password" in refused["exc_value"] and "int_parsing" in refused["exc_value"]
