"""Sign-in throttling over accounts' database (the rules: domain/throttle.py). The counters live in
the database, not in a process, so every replica of accounts counts the same attempts; each
change is a compare-and-set of one document, so two replicas never both pass the same slot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .domain.throttle import ACCOUNT, Counter, Key, account_key, keys_for
from .store import AccountsStore

# Compare-and-set rounds before giving up on a key that many attempts change at once; giving up
# refuses the attempt (like a throttled one), it never lets it through uncounted.
ROUNDS = 50


@dataclass(frozen=True)
class Attempt:
    keys: list[Key]
    address: str
    counted: dict[str, Counter]  # each key's counter as this attempt left it


class SignInThrottle:
    def __init__(self, accounts: AccountsStore, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.accounts = accounts
        self.clock = clock

    async def attempt(self, account_id: str | None, address: str) -> Attempt | None:
        """Count one attempt (as a failure, until it proves right) on every counter it goes
        through; None if any of them refuses it now. A refused attempt is not counted."""
        now = self.clock()
        keys = keys_for(account_id, address)
        counters = await self.accounts.counters([k.id for k in keys])
        if any(counters[k.id].refuses(k.policy, now, k.address) for k in keys):
            return None
        counted = {}
        for key in keys:
            current = counters[key.id]
            for _ in range(ROUNDS):
                if current.refuses(key.policy, now, key.address):
                    return None  # another attempt got there first and was the last one allowed
                if await self.accounts.swap_counter(key, current, new := current.attempted(key.policy, now)):
                    counted[key.id] = new
                    break
                current = await self.accounts.counter(key.id)
            else:
                return None
        return Attempt(keys, address, counted)

    async def succeeded(self, attempt: Attempt) -> None:
        """The password was right: the account's failures, from here and from anywhere, and this
        address's are forgotten (NIST SP 800-63B §5.2.2), and the address becomes a known one."""
        for key in attempt.keys:
            current = attempt.counted[key.id]
            known = attempt.address if key.policy is ACCOUNT else None
            for _ in range(ROUNDS):
                if await self.accounts.swap_counter(key, current, current.succeeded(known)):
                    break
                current = await self.accounts.counter(key.id)  # counted meanwhile by another attempt

    async def account_counter(self, account_id: str) -> Counter:
        return await self.accounts.counter(account_key(account_id))

    def refused_everywhere(self, counter: Counter) -> bool:
        """For administrators' view: sign-in from an address the account never used is refused now."""
        return counter.refuses(ACCOUNT, self.clock())

    async def clear(self, account_id: str) -> None:
        await self.accounts.clear_counters(account_id)
