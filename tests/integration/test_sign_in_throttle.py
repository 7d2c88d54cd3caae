"""Sign-in throttle counters (services/accounts/throttling.py) on the real store, as several
replicas of accounts count them: a burst of parallel guesses gets exactly the allowed number
through, however many replicas serve it; nothing is lost, and a right password clears it."""

import asyncio
from datetime import UTC, datetime, timedelta

from chassis.store import Store
from services.accounts.domain.throttle import ACCOUNT, PAIR
from services.accounts.store import AccountsStore
from services.accounts.throttling import SignInThrottle


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_parallel_guesses_on_several_replicas_get_exactly_the_allowed_number(mongo_url, store):
    clock = Clock()
    replicas = [Store(mongo_url, store.db.name) for _ in range(3)]
    throttles = [SignInThrottle(AccountsStore(r), clock) for r in replicas]
    try:
        # 60 guesses at once on one account from one address, spread over three replicas.
        attempts = await asyncio.gather(*(throttles[i % 3].attempt("acc", "203.0.113.9") for i in range(60)))
        assert sum(a is not None for a in attempts) == PAIR.free  # then a delay: no more slip in
        pair = await AccountsStore(store).counter("pair:acc:203.0.113.9")
        assert pair.failures == PAIR.free and pair.blocked_until == clock.now + PAIR.delay(PAIR.free)

        # From another address the pair counter is fresh, the account-wide one still counts.
        clock.now += timedelta(seconds=1)
        other = [await throttles[0].attempt("acc", f"198.51.100.{i}") for i in range(ACCOUNT.free)]
        assert all(a is not None for a in other[: ACCOUNT.free - PAIR.free])
        account = await AccountsStore(store).counter("account:acc")
        assert account.failures == ACCOUNT.free and account.refuses(ACCOUNT, clock.now, "192.0.2.1")

        # A right password from 198.51.100.0 clears the account and makes that address a known one.
        await throttles[1].succeeded(other[0])
        account = await AccountsStore(store).counter("account:acc")
        assert (account.failures, account.known) == (0, ("198.51.100.0",))
        await throttles[2].clear("acc")
        assert (await AccountsStore(store).counter("pair:acc:203.0.113.9")).failures == 0
    finally:
        for r in replicas:
            await r.close()
