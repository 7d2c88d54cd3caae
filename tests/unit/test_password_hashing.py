"""The hashing queue of accounts (services/accounts/passwords.py), with a stand-in hash that only
takes time: sign-ins go before a sheet's bulk work, and a flood is refused at once, not queued."""

import asyncio
import time

import pytest

from services.accounts.passwords import HashQueueFull, PasswordHashing

HASH_SECONDS = 0.02


class SlowHasher:
    def hash(self, password: str) -> str:
        time.sleep(HASH_SECONDS)
        return "h:" + password

    def verify(self, stored: str, password: str) -> bool:
        time.sleep(HASH_SECONDS)
        return stored == "h:" + password


def hashing(workers=1, queue_limit=8, per_address_limit=3) -> PasswordHashing:
    return PasswordHashing(workers, queue_limit, per_address_limit, hasher=SlowHasher())  # type: ignore[arg-type]


async def sign_in(gate: PasswordHashing, address: str, password: str = "x") -> bool:
    with gate.admitted(address):
        return await gate.verify("h:right", password)


async def test_a_sign_in_goes_before_a_sheets_waiting_hashes():
    gate = hashing()
    sheet = [asyncio.create_task(gate.hash_bulk(f"p{i}")) for i in range(40)]
    await asyncio.sleep(HASH_SECONDS / 2)  # the sheet holds the worker and 39 wait
    start = time.perf_counter()
    assert await sign_in(gate, "10.0.0.1", "right") is True
    waited = time.perf_counter() - start
    assert waited < 6 * HASH_SECONDS, waited  # the hash running, then its own: not 40 of them
    assert sum(not t.done() for t in sheet) > 30
    assert await asyncio.gather(*sheet) == [f"h:p{i}" for i in range(40)]  # the sheet is never refused


async def test_a_flood_is_refused_at_once_beyond_its_share_and_beyond_the_limit():
    gate = hashing(queue_limit=5, per_address_limit=3)
    flood = [asyncio.create_task(sign_in(gate, "203.0.113.9")) for _ in range(3)]
    await asyncio.sleep(0)
    with pytest.raises(HashQueueFull) as refused:
        await sign_in(gate, "203.0.113.9")  # a fourth from the same address: told to retry, not queued
    assert refused.value.retry_after >= 1
    others = [asyncio.create_task(sign_in(gate, f"10.0.0.{i}", "right")) for i in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(HashQueueFull):
        await sign_in(gate, "10.0.0.99")  # five at once: the limit
    assert await asyncio.gather(*flood, *others) == [False, False, False, True, True]
    assert await sign_in(gate, "203.0.113.9", "right") is True  # all answered: room again


async def test_a_caller_that_goes_away_while_waiting_gives_its_place_back():
    gate = hashing()
    first = asyncio.create_task(sign_in(gate, "10.0.0.1", "right"))
    gone = asyncio.create_task(sign_in(gate, "10.0.0.2"))
    await asyncio.sleep(0)
    gone.cancel()
    assert await first is True
    assert await sign_in(gate, "10.0.0.2", "right") is True
    assert gate.waiting == 0 and gate._free == 1 and gate._admitted == 0


async def test_a_refused_sign_in_takes_as_long_as_a_hash():
    gate = hashing()
    start = time.perf_counter()
    await gate.pause_like_verify()
    assert 0.8 * HASH_SECONDS <= time.perf_counter() - start <= 3 * HASH_SECONDS
