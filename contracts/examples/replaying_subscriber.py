"""Reading the platform's event history (runnable; the test suite runs it).

    pip install moha-contracts "faststream[rabbit]"
    AMQP_URL=amqp://<user>:<password>@<broker>:5672/ python replaying_subscriber.py [--since 2026-04-01T00:00:00Z]

Every event published on `moha.events` is also kept, in the order the broker received it, on the
stream `moha.events.history` for as long as the Ministry's retention says (the AsyncAPI document's
`history` channel). Your read-only user may read it; nobody may write into it. Unlike your own
queue, which holds only what was published after you bound it, the history lets you start from:

- the first event still kept: `x-stream-offset: "first"`;
- a time: `x-stream-offset: <a timestamp>`. The broker starts at the first chunk written at or
  after it by the broker's own clock, which is coarse (whole seconds, a chunk at a time) and may
  lag: an Erlang VM whose host clock was stepped catches up by slewing, one second in a hundred
  (seen here: 11 s behind, and events published after the time were skipped). So ask for a few
  minutes earlier (`SEEK_MARGIN`) and skip what the event's own `time` puts before yours;
- where you stopped: the offset after the last one you handled (header `x-stream-offset` of each
  message; keep it with your own data, written together with what the event changed).

A stream hands out messages only against credit: set a prefetch (basic.qos) on the consumer's
channel, and acknowledge each message. Here it is 1, so that events are handled one at a time in
their order and the checkpoint only ever moves forward (aio-pika runs each delivered message in a
task of its own: with more credit, several would run at once). Reading the history takes nothing
away from it, and others read the same messages. After a reconnect the consumer starts again where
it was first told to, so skip offsets at or below the one you have kept.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path

from faststream import AckPolicy, FastStream
from faststream.rabbit import QueueType, RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.schemas import Channel

from moha_contracts import EVENTS_EXCHANGE, EVENTS_HISTORY, Envelope

# Declared by the Ministry: a subscriber only reads it (passively: `declare=False`).
HISTORY = RabbitQueue(EVENTS_HISTORY, queue_type=QueueType.STREAM, declare=False)
# How far before the asked time the broker is asked to start (see above): its clock may lag.
SEEK_MARGIN = timedelta(minutes=10)


class Checkpoint:
    """The offset of the last event handled. A file here; in production, a row of your own database
    written in the same transaction as the event's effects, so that the two never disagree."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset: int | None = json.loads(path.read_text())["offset"] if path.exists() else None

    def save(self, offset: int) -> None:
        self.offset = offset
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"offset": offset}))
        tmp.replace(self.path)


def start_at(
    checkpoint: Checkpoint, since: datetime | None = None, seek_margin: timedelta = SEEK_MARGIN
) -> int | str | datetime:
    """Where to start reading: after the last event handled, else from a time, else from the first kept."""
    if checkpoint.offset is not None:
        return checkpoint.offset + 1
    return since - seek_margin if since is not None else "first"


def build(
    amqp_url: str,
    checkpoint: Checkpoint,
    handle: Callable[[Envelope], Awaitable[None]],
    *,
    since: datetime | None = None,
    publishers: Mapping[str, str] | None = None,
    seek_margin: timedelta = SEEK_MARGIN,
) -> RabbitBroker:
    """`publishers`: the broker user of each publishing service (by default its own name), checked
    against each message's `user_id`, which RabbitMQ guarantees."""
    broker = RabbitBroker(amqp_url)
    publishers = publishers or {}
    from_time = since if checkpoint.offset is None else None  # a checkpoint, once kept, wins

    @broker.subscriber(
        HISTORY,
        # A stream consumer must have a prefetch: the credit the broker reads ahead by. One: in order.
        channel=Channel(prefetch_count=1),
        consume_args={"x-stream-offset": start_at(checkpoint, since, seek_margin)},
        ack_policy=AckPolicy.ACK,
    )
    async def on_event(body: bytes, message: RabbitMessage) -> None:
        raw = message.raw_message
        offset = raw.headers["x-stream-offset"]
        if checkpoint.offset is not None and offset <= checkpoint.offset:
            return  # read again after a reconnect
        envelope = Envelope.model_validate_json(body)
        owner = envelope.routing_key.split(".", 1)[0]
        # Only what came through the events exchange, from the service that owns the event; from a
        # time, only what its publisher stamped at or after it (the seek started earlier).
        early = from_time is not None and envelope.time < from_time
        if raw.exchange == EVENTS_EXCHANGE and raw.user_id == publishers.get(owner, owner) and not early:
            await handle(envelope)
        checkpoint.save(offset)

    return broker


async def _print(envelope: Envelope) -> None:
    print(f"{envelope.time:%Y-%m-%d %H:%M:%S} {envelope.type} {envelope.subject or ''} ({envelope.id})")


if __name__ == "__main__":
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--since", type=datetime.fromisoformat, help="start at this time (ISO 8601) the first time")
    parser.add_argument("--checkpoint", type=Path, default=Path("moha-history.offset.json"))
    args = parser.parse_args()
    asyncio.run(FastStream(build(os.environ["AMQP_URL"], Checkpoint(args.checkpoint), _print, since=args.since)).run())
