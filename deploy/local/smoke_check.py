"""Smoke check for the local stack: the MongoDB stand-in via pymongo's AsyncMongoClient, RabbitMQ via aio-pika.

    pip install 'pymongo>=4.13.2' aio-pika
    python deploy/local/smoke_check.py      # reads AMQP_URL / MONGODB_URL, defaults to the stack's

Creates and drops the database stackcheck and a throw-away quorum queue.
"""

import asyncio
import os
import uuid

import aio_pika
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.errors import DuplicateKeyError

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
MONGODB_URL = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")


async def check_mongo():
    client = AsyncMongoClient(MONGODB_URL, serverSelectionTimeoutMS=5000)
    try:
        info = await client.server_info()
        print("mongo server:", info.get("version"))
        db = client["stackcheck"]
        coll = db["docs"]
        await coll.drop()
        name = await coll.create_index([("key", ASCENDING)], unique=True)
        print("index:", name, await coll.index_information())
        await coll.insert_one({"key": "a", "n": 1, "tags": ["x"]})
        doc = await coll.find_one({"key": "a"})
        assert doc and doc["n"] == 1, doc
        try:
            await coll.insert_one({"key": "a", "n": 2})
            raise SystemExit("unique index NOT enforced")
        except DuplicateKeyError as e:
            print("duplicate rejected:", e.code)
        r = await coll.update_one({"key": "a", "n": 1}, {"$inc": {"n": 1}, "$push": {"tags": "y"}})
        assert r.modified_count == 1
        doc = await coll.find_one({"key": "a"})
        print("mongo ok:", doc)
        await client.drop_database("stackcheck")
    finally:
        await client.close()


async def check_rabbit():
    conn = await aio_pika.connect_robust(AMQP_URL)
    async with conn:
        ch = await conn.channel(publisher_confirms=True)
        qname = "stackcheck." + uuid.uuid4().hex[:8]
        q = await ch.declare_queue(qname, durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 5})
        body = b"hello " + qname.encode()
        confirm = await ch.default_exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=qname, mandatory=True
        )
        print("publish confirm:", type(confirm).__name__)
        got = None
        for _ in range(50):
            got = await q.get(fail=False)
            if got:
                break
            await asyncio.sleep(0.1)
        assert got and got.body == body, got
        print("delivery-count header:", got.headers)
        await got.ack()
        await q.delete(if_unused=False, if_empty=False)
        print("rabbit ok")


async def main():
    await check_mongo()
    await check_rabbit()


asyncio.run(main())
