"""The envelope every event travels in: CloudEvents 1.0 attributes in structured JSON mode.

Subscribers (other ministries included) read `type` and `id` to dispatch and de-duplicate;
`correlationid` ties an event to the HTTP request that caused it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

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

    model_config = ConfigDict(extra="forbid", frozen=True)

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

    @classmethod
    def wrap(cls, event: Event, *, correlation_id: str | None = None, event_id: str | None = None) -> Self:
        return cls(
            id=event_id or str(uuid.uuid4()),
            type=event.event_type(),
            source=event.source(),
            time=datetime.now(UTC),
            subject=event.subject(),
            correlationid=correlation_id or str(uuid.uuid4()),
            schemaversion=event.schema_version,
            data=event.model_dump(mode="json"),
        )

    @property
    def routing_key(self) -> str:
        return self.type.removeprefix(TYPE_PREFIX)

    def open(self, event_cls: type[Event]) -> Event:
        """Validate `data` against the event class it claims to be."""
        if self.type != event_cls.event_type():
            raise ValueError(f"envelope of type {self.type!r} is not {event_cls.event_type()!r}")
        return event_cls.model_validate(self.data)
