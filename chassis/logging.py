"""Structured JSON logs with the correlation id of the request or event being handled."""

from __future__ import annotations

import contextlib
import logging
import sys
import uuid
from collections.abc import Iterator

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars

__all__ = ["bind_contextvars", "clear_contextvars", "configure", "correlation_id", "fresh_correlation_id",
           "get_contextvars", "get_logger"]


def configure(service: str, level: str = "info") -> None:
    lvl = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)

    def add_service(_logger, _method, event_dict):
        event_dict.setdefault("service", service)
        return event_dict

    shared = [
        add_service,
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.dict_tracebacks,
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    # Third-party libraries log through stdlib: route them to the same JSON stream.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # Libraries' exceptions (uvicorn's "Exception in ASGI application") with their traceback.
                structlog.processors.dict_tracebacks,
                structlog.processors.EventRenamer("message"),
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(lvl, logging.WARNING))


def get_logger(name: str | None = None) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name) if name else structlog.get_logger()


def correlation_id() -> str | None:
    return get_contextvars().get("correlation_id")


@contextlib.contextmanager
def fresh_correlation_id() -> Iterator[str]:
    """A write that must not be joined to the request's others (a survey answer to its respondent)."""
    previous = correlation_id()
    fresh = str(uuid.uuid4())
    bind_contextvars(correlation_id=fresh)
    try:
        yield fresh
    finally:
        bind_contextvars(correlation_id=previous)
