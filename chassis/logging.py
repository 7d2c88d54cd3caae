"""Structured JSON logs with the correlation id of the request or event being handled.

A traceback names its frames (file, line, function) and the exception's type and message, never
the frames' local variables: those hold passwords, issued initial passwords, survey tokens and
bearer tokens (docs/decisions/0012-http-hardening.md)."""

from __future__ import annotations

import contextlib
import logging
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import structlog
from opentelemetry import trace
from pydantic import ValidationError
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars
from structlog.processors import ExceptionRenderer
from structlog.tracebacks import ExceptionDictTransformer

__all__ = [
    "bind_contextvars",
    "clear_contextvars",
    "configure",
    "correlation_id",
    "fresh_correlation_id",
    "get_contextvars",
    "get_logger",
]


MAX_EXCEPTION_TEXT = 1000


class _FramesWithoutValues(ExceptionDictTransformer):
    """structlog's dict traceback with no locals, and pydantic's errors without their inputs (its
    message repeats every refused value: `input_value='the password'`)."""

    def __init__(self) -> None:
        super().__init__(show_locals=False, max_frames=40, use_rich=False)

    def __call__(self, exc_info: Any) -> list[dict[str, Any]]:
        stacks = super().__call__(exc_info)
        texts = {str(exc): _without_inputs(exc) for exc in _chain(exc_info[1]) if isinstance(exc, ValidationError)}
        for stack in stacks:
            value = stack.get("exc_value", "")
            stack["exc_value"] = texts.get(value, value)[:MAX_EXCEPTION_TEXT]
        return stacks


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


def _without_inputs(exc: ValidationError) -> str:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['type']}"
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    )
    return f"{exc.error_count()} validation error(s) for {exc.title}: {problems}"


_tracebacks = ExceptionRenderer(_FramesWithoutValues())


def configure(service: str, level: str = "info") -> None:
    lvl = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)

    def add_service(_logger, _method, event_dict):
        event_dict.setdefault("service", service)
        return event_dict

    def add_trace(_logger, _method, event_dict):
        # With traces on (chassis/tracing.py), a log line names the trace it belongs to.
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        return event_dict

    shared: list[structlog.typing.Processor] = [
        add_service,
        add_trace,
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            _tracebacks,
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
                _tracebacks,
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
