"""Password hashing (argon2id) behind a bounded, fair queue.

Hashing is CPU-bound and slow on purpose: a flood of sign-ins would otherwise queue without limit
and every other caller would wait behind it. So:
- a sign-in is admitted first: at most `queue_limit` at once, and at most `per_address_limit`
  from one address; beyond that the caller is told at once to come back (429 with Retry-After),
  before anything else is done (no lookup, no count, no hash);
- no more hashes at once than `workers` (the cores);
- people waiting on an answer (sign-in, password change, issuing one account) go before bulk work
  (a sheet of 545 accounts), which waits for a free worker and is never refused;
- a refused sign-in (throttled) waits about as long as a hash without using a worker, so it
  answers in the same time as a wrong password.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

# argon2id at OWASP's recommended cost (19 MiB, 2 passes): the library default (64 MiB x 4 lanes)
# made accounts peak at 460 MiB when several hashes ran at once.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


class HashQueueFull(Exception):
    """Too many sign-ins at once (or from one address): come back in `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"hash queue full; retry after {retry_after}s")
        self.retry_after = retry_after


class PasswordHashing:
    def __init__(
        self,
        workers: int,
        queue_limit: int,
        per_address_limit: int,
        hasher: PasswordHasher = HASHER,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.hasher = hasher
        self.workers = workers
        self.queue_limit = queue_limit
        self.per_address_limit = per_address_limit
        self._clock = clock
        self._free = workers
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._bulk: deque[asyncio.Future[None]] = deque()
        self._admitted = 0
        self._in_flight: Counter[str] = Counter()  # admitted, per address
        self.dummy_hash = hasher.hash("not-a-real-password")
        start = clock()
        self._verify(self.dummy_hash, "not-the-password")
        self.typical_seconds = clock() - start  # a verify's duration, followed as hashes run

    # what callers use ----------------------------------------------------------------------
    @contextlib.contextmanager
    def admitted(self, address: str) -> Iterator[None]:
        """One sign-in (or password change) from `address`, from its first step to its answer."""
        if self._admitted >= self.queue_limit or self._in_flight[address] >= self.per_address_limit:
            raise HashQueueFull(max(1, math.ceil((self.waiting + 1) * self.typical_seconds / self.workers)))
        self._admitted += 1
        self._in_flight[address] += 1
        try:
            yield
        finally:
            self._admitted -= 1
            self._in_flight[address] -= 1
            if not self._in_flight[address]:
                del self._in_flight[address]

    async def verify(self, stored: str | None, password: str) -> bool:
        """`stored` None (a name that does not exist) still costs a hash: timing tells nothing."""
        return await self._run(self._verify, stored or self.dummy_hash, password, urgent=True, timed=True)

    async def hash(self, password: str) -> str:
        return await self._run(self.hasher.hash, password, urgent=True)

    async def hash_bulk(self, password: str) -> str:
        """For sheets: waits behind every interactive hash, is never refused."""
        return await self._run(self.hasher.hash, password, urgent=False)

    async def pause_like_verify(self) -> None:
        """As long as a wrong password takes, without taking a worker."""
        await asyncio.sleep(self.typical_seconds * random.uniform(0.9, 1.3))

    # the queue -------------------------------------------------------------------------------
    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerifyMismatchError, InvalidHashError):
            return False

    async def _run(self, fn: Callable[..., Any], *args: Any, urgent: bool, timed: bool = False) -> Any:
        await self._acquire(urgent=urgent)
        try:
            start = self._clock()
            result = await asyncio.to_thread(fn, *args)
            if timed:
                self.typical_seconds = 0.9 * self.typical_seconds + 0.1 * (self._clock() - start)
            return result
        finally:
            self._release()

    async def _acquire(self, *, urgent: bool) -> None:
        if self._free and not self._urgent and (urgent or not self._bulk):
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._bulk
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a worker just as the caller went away: pass it on
            else:
                with contextlib.suppress(ValueError):  # already taken off by _release
                    queue.remove(waiter)
            raise

    def _release(self) -> None:
        for queue in (self._urgent, self._bulk):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the worker passes straight to the next in line
                    return
        self._free += 1

    @property
    def waiting(self) -> int:
        return len(self._urgent) + len(self._bulk)
