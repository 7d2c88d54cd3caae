"""Generate the AsyncAPI 3.0 document from the event classes, so the document cannot drift.

python -m moha_contracts.asyncapi > contracts/moha_contracts/asyncapi.json
"""

from __future__ import annotations

import json
from typing import Any

from .envelope import CONTENT_TYPE, EVENTS_EXCHANGE, EVENTS_HISTORY, Envelope
from .events import ALL_EVENTS


def _message_name(event_cls: type) -> str:
    return event_cls.__name__


def build() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Envelope": _envelope_schema()}
    for event_cls in ALL_EVENTS:
        name = _message_name(event_cls)
        data_schema = event_cls.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in data_schema.pop("$defs", {}).items():
            schemas[def_name] = definition
        schemas[name] = data_schema
        messages[name] = {
            "name": name,
            "title": name,
            "summary": (event_cls.__doc__ or name).strip().splitlines()[0],
            "contentType": CONTENT_TYPE,
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/Envelope"},
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": event_cls.event_type()},
                            "schemaversion": {"const": event_cls.schema_version},
                            "data": {"$ref": f"#/components/schemas/{name}"},
                        },
                    },
                ]
            },
        }
        channel_id = event_cls.routing_key.replace(".", "_")
        channels[channel_id] = {
            "address": event_cls.routing_key,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": EVENTS_EXCHANGE,
                        "type": "topic",
                        "durable": True,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": "0.3.0",
                }
            },
        }
        operations[f"publish_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"}],
        }
    # The history: every message above, in the order the broker received it, kept for replay.
    channels["history"] = {
        "address": EVENTS_HISTORY,
        "title": "Event history (a RabbitMQ stream)",
        "description": (
            f"Every event published on `{EVENTS_EXCHANGE}`, kept in order by the broker for as long as the "
            "Ministry's retention (by age and size) says. Read it with your read-only user; nobody writes into "
            "it but its binding (`#`). Consume with a prefetch (basic.qos) and acknowledge each message; choose "
            "where to start with the consumer argument `x-stream-offset`: `first` (the oldest event kept), an "
            "offset (the header `x-stream-offset` of each message: keep the last one you handled and start after "
            "it), or a timestamp (from the first chunk written at or after it). Each message keeps its routing "
            "key, `user_id` (the publishing service) and properties. See contracts/examples/replaying_subscriber.py."
        ),
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
        "bindings": {
            "amqp": {
                "is": "queue",
                "queue": {
                    "name": EVENTS_HISTORY,
                    "durable": True,
                    "exclusive": False,
                    "autoDelete": False,
                    "vhost": "/",
                },
                "bindingVersion": "0.3.0",
            }
        },
    }
    operations["replay_history"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/history"},
        "summary": "Read the event history from the first event kept, from a time or from where you stopped.",
        "bindings": {"amqp": {"ack": True, "bindingVersion": "0.3.0"}},
        "messages": [{"$ref": f"#/channels/history/messages/{name}"} for name in messages],
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "MOHA survey and reporting platform events",
            "version": "1.2.0",
            "description": (
                "Domain events of the Ministry of Home Affairs platform. Bind your own durable queue "
                f"to the topic exchange `{EVENTS_EXCHANGE}` with a routing-key pattern such as "
                "`approvals.form.*.v1`. Each message is a CloudEvent in structured JSON mode; "
                "de-duplicate by its `id`: delivery is at least once. Events published before your queue existed "
                f"are on the stream `{EVENTS_HISTORY}` (channel `history`), which you may replay."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {"production": {"host": "rabbitmq:5672", "protocol": "amqp", "protocolVersion": "0.9.1"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _envelope_schema() -> dict[str, Any]:
    schema = Envelope.model_json_schema()
    schema.pop("title", None)
    return schema


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
