"""Bare FastStream: the best a platform stage can do on this broker.

    python -m bench.bare --url AMQP_URL --queue Q --routing-in K1 --routing-out K2

One process, as a service is: FastStream's RabbitBroker made as the chassis makes it (prefetch,
publisher confirms, the message handed to the handler as the chassis hands it), a durable quorum
queue bound to the events exchange, manual acknowledgement;
each message is republished persistently under `--routing-out`, its confirm awaited, then
acknowledged. No inbox, no store, no parsing: what is left when the platform's own work is taken
away. Prints "ready" once it consumes; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from faststream import AckPolicy
from faststream.rabbit import QueueType, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage

from chassis.messaging import EVENTS, broker_user, itself, make_broker
from chassis.runtime import new_event_loop


async def serve(args: argparse.Namespace) -> None:
    broker = make_broker(args.url, prefetch=args.prefetch, service="bench-bare")
    user = broker_user(args.url)

    @broker.subscriber(
        RabbitQueue(args.queue, queue_type=QueueType.QUORUM, routing_key=args.routing_in),
        EVENTS,
        ack_policy=AckPolicy.MANUAL,
        decoder=itself,
    )
    async def republish(message: RabbitMessage) -> None:
        raw = message.raw_message
        await broker.publish(
            raw.body,
            exchange=EVENTS,
            routing_key=args.routing_out,
            persist=True,
            mandatory=False,
            message_id=raw.message_id,
            correlation_id=raw.correlation_id,
            content_type=raw.content_type,
            user_id=user,
        )
        await message.ack()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await broker.start()
    print("ready", flush=True)
    await stop.wait()
    await broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--routing-in", required=True)
    parser.add_argument("--routing-out", required=True)
    parser.add_argument("--prefetch", type=int, default=32, help="as the services' PREFETCH default")
    args = parser.parse_args()
    loop = new_event_loop()
    try:
        loop.run_until_complete(serve(args))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
