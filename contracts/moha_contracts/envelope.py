"""The envelope every event travels in: CloudEvents 1.0 attributes in structured JSON mode.

Subscribers (other ministries included) read `type` and `id` to dispatch and de-duplicate;
`correlationid` ties an event to the HTTP request that caused it; `traceparent` (contracts 1.2, the
CloudEvents distributed-tracing extension) names the trace and span that caused it, when the
platform exports traces. Like every CloudEvents consumer, the envelope accepts extension attributes
it does not know, so that a later minor version adding one breaks no subscriber.
"""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_serializer

EVENTS_EXCHANGE = "moha.events"
DEAD_LETTER_EXCHANGE = "moha.dead-letter"
# Every event published on EVENTS_EXCHANGE, kept in order for replay: a RabbitMQ stream, read with
# the consumer argument `x-stream-offset` ("first", an offset, or a time).
EVENTS_HISTORY = "moha.events.history"
CONTENT_TYPE = "application/cloudevents+json"
TYPE_PREFIX = "vn.gov.moha."


class Event(BaseModel):
    """Base of every event's data. Subclasses set the routing key (`<service>.<aggregate>.<event>.v<major>`)."""

    # A tolerant reader: a consumer built on an older minor version ignores the optional fields
    # added since (e.g. FormSubmitted 1.1's form_version) instead of refusing the whole event.
    model_config = ConfigDict(extra="ignore", frozen=True)

    routing_key: ClassVar[str]
    schema_version: ClassVar[str] = "1.0"

    @classmethod
    def event_type(cls) -> str:
        return TYPE_PREFIX + cls.routing_key

    @classmethod
    def source(cls) -> str:
        return "/moha/" + cls.routing_key.split(".", 1)[0]

    def subject(self) -> str | None:
        return None


class Envelope(BaseModel):
    """A CloudEvent. `data` stays a dict here so that a consumer of an older minor version still parses it."""

    # Extension attributes this version does not know are ignored (CloudEvents 1.0: consumers must
    # accept them); 1.1 forbade them, so 1.1 subscribers must upgrade before traces are turned on.
    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: str = "1.0"
    id: str
    type: str
    source: str
    time: datetime
    subject: str | None = None
    datacontenttype: str = "application/json"
    correlationid: str
    schemaversion: str
    data: dict[str, Any] = Field(default_factory=dict)
    # Added in 1.2: W3C trace context (`00-<trace id>-<span id>-<flags>`), absent when traces are off.
    traceparent: str | None = Field(default=None, pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")

    @model_serializer(mode="wrap")
    def _without_absent_extensions(self, handler: Any) -> dict[str, Any]:
        # Left out, not null, when absent: an envelope without a trace is byte for byte a 1.1 one.
        dumped = handler(self)
        if dumped.get("traceparent") is None:
            dumped.pop("traceparent", None)
        return dumped

    @classmethod
    def wrap(
        cls,
        event: Event,
        *,
        correlation_id: str | None = None,
        event_id: str | None = None,
        traceparent: str | None = None,
    ) -> Self:
        return cls(
            id=event_id or str(uuid.uuid4()),
            type=event.event_type(),
            source=event.source(),
            time=datetime.now(UTC),
            subject=event.subject(),
            correlationid=correlation_id or str(uuid.uuid4()),
            schemaversion=event.schema_version,
            data=event.model_dump(mode="json"),
            traceparent=traceparent,
        )

    @property
    def routing_key(self) -> str:
        return self.type.removeprefix(TYPE_PREFIX)

    def open(self, event_cls: builtins.type[Event]) -> Event:
        """Validate `data` against the event class it claims to be."""
        if self.type != event_cls.event_type():
            raise ValueError(f"envelope of type {self.type!r} is not {event_cls.event_type()!r}")
        return event_cls.model_validate(self.data)
