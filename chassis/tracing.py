"""Traces across HTTP and the bus with OpenTelemetry (decision 0017), exported only when configured.

`OTEL_TRACES_EXPORTER=otlp` turns them on: spans go by OTLP over HTTP to
`OTEL_EXPORTER_OTLP_ENDPOINT` (the collector's, e.g. `http://otel-collector:4318`), sampled as
`OTEL_TRACES_SAMPLER` says (all, by default). Off (`none`, the default), nothing is recorded and
nothing is added to messages.

One submission's path through four services is one trace: the HTTP request's span (FastAPI's
instrumentation) is the parent of what the request commits; each event carries its trace context
in the envelope (`traceparent`, a CloudEvents extension attribute, beside `correlationid`), from
the moment it is committed, so the outbox relay publishes it as a child of the request however
late it runs; FastStream's middleware puts it in the message headers too and continues the trace
in each consumer, whose own commits carry it on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .logging import get_logger

log = get_logger("chassis.tracing")
_PROPAGATOR = TraceContextTextMapPropagator()
_provider: Any = None


def configure(service: str, exporter: str) -> None:
    """Set up the process's tracer provider once; `exporter` is `none` or `otlp`."""
    global _provider
    if exporter == "none" or _provider is not None:
        return
    if exporter != "otlp":
        raise ValueError(f"OTEL_TRACES_EXPORTER {exporter!r}: 'none' or 'otlp'")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    log.info("traces exported by OTLP", service=service)


def enabled() -> bool:
    return _provider is not None


def shutdown() -> None:
    """Send what is buffered before the process ends."""
    if _provider is not None:
        _provider.shutdown()


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the span in progress, or None (tracing off, or no span)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def continued(traceparent: str | None) -> Iterator[None]:
    """Run the block as part of the trace a `traceparent` names (a commit's, as the relay publishes it)."""
    if not traceparent or not enabled():
        yield
        return
    token = context.attach(_PROPAGATOR.extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        context.detach(token)


@contextlib.contextmanager
def consuming(name: str, headers: dict[str, Any] | None, **attributes: Any) -> Iterator[None]:
    """A consumer span continuing the trace in a message's headers: for messages FastStream's
    middleware does not see (read from the event history while catching up)."""
    if not enabled():
        yield
        return
    parent = _PROPAGATOR.extract({k: v for k, v in (headers or {}).items() if isinstance(v, str)})
    tracer = trace.get_tracer("chassis.catchup")
    with tracer.start_as_current_span(
        f"{name} process", context=parent, kind=trace.SpanKind.CONSUMER, attributes=attributes
    ):
        yield
