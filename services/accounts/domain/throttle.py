"""Sign-in throttling: growing delays instead of a lock (NIST SP 800-63B §5.2.2). Plain Python: no I/O.

Every attempt to prove a password (signing in, or the current password when changing it) is
counted, before the password is checked, against three counters:

- the account from this address (`pair`): the attacker's own address is slowed first;
- the address, whatever the name (`address`): one address trying many names is slowed;
- the account from anywhere (`account`): many addresses trying one name are slowed, and after
  `ACCOUNT.limit` consecutive failures stopped until the holder signs in or an administrator
  unlocks it (which issues a new password). This counter does not refuse an address the account
  signed in from before (`known`): an attack from elsewhere can slow the real holder at home only
  through `pair`, so nobody can shut the central administrator out.

The attempt is counted as a failure before its password is hashed (so parallel guesses cannot
all slip in before the first failure is written); a right password then clears the counters.
A refused attempt is not counted and not hashed, and answers exactly like a wrong password.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Policy:
    free: int  # failures before any delay
    first_delay: timedelta  # after the `free`th failure; doubled by each further one
    max_delay: timedelta
    forget_after: timedelta  # a failure after this long a quiet spell starts the count again
    limit: int | None = None  # consecutive failures after which only a success or an unlock opens

    def delay(self, failures: int) -> timedelta:
        if failures < self.free:
            return timedelta(0)
        doublings = min(failures - self.free, 32)  # 2**32 seconds is past any sensible max_delay
        return min(self.first_delay * 2**doublings, self.max_delay)


# Five guesses, then 1 s, 2 s, 4 s … at most 15 minutes: the holder who mistyped waits seconds;
# a guesser from one address gets about a hundred guesses a day.
PAIR = Policy(
    free=5, first_delay=timedelta(seconds=1), max_delay=timedelta(minutes=15), forget_after=timedelta(hours=24)
)
# An office behind one address has many people: more room before it is slowed, forgotten sooner.
ADDRESS = Policy(
    free=20, first_delay=timedelta(seconds=1), max_delay=timedelta(minutes=15), forget_after=timedelta(hours=1)
)
# Guesses from many addresses: slowed after 10, at most one an hour past ~22, stopped at 100.
ACCOUNT = Policy(
    free=10, first_delay=timedelta(seconds=1), max_delay=timedelta(hours=1), forget_after=timedelta(hours=24), limit=100
)

KNOWN_ADDRESSES = 5  # the addresses of the account's last successful sign-ins


@dataclass(frozen=True)
class Counter:
    """One counter's state, as stored (one document per key, changed by compare-and-set on `seq`)."""

    failures: int = 0
    last_failure_at: datetime | None = None
    blocked_until: datetime | None = None
    known: tuple[str, ...] = ()
    seq: int = 0

    def refuses(self, policy: Policy, now: datetime, address: str | None = None) -> bool:
        if address is not None and address in self.known:
            return False  # see the module's docstring: the holder's own addresses stay open
        if policy.limit is not None and self.failures >= policy.limit:
            return True
        return self.blocked_until is not None and now < self.blocked_until

    def attempted(self, policy: Policy, now: datetime) -> Counter:
        """Counted as a failure until the password proves right."""
        failures = self.failures
        if self.last_failure_at is not None and now - self.last_failure_at >= policy.forget_after:
            failures = 0
        failures += 1
        delay = policy.delay(failures)
        return replace(
            self,
            failures=failures,
            last_failure_at=now,
            blocked_until=now + delay if delay else self.blocked_until,
            seq=self.seq + 1,
        )

    def succeeded(self, address: str | None = None) -> Counter:
        known = self.known
        if address is not None:
            known = (address, *[a for a in self.known if a != address])[:KNOWN_ADDRESSES]
        return Counter(known=known, seq=self.seq + 1)


@dataclass(frozen=True)
class Key:
    """A counter's identity and the policy it follows. `address` is set on the account-wide key:
    the address the attempt comes from, which a known one lets through."""

    id: str
    policy: Policy
    account_id: str | None = None
    address: str | None = field(default=None, compare=False)


def account_key(account_id: str) -> str:
    return f"account:{account_id}"


def keys_for(account_id: str | None, address: str) -> list[Key]:
    """The counters an attempt from `address` on the account (None: a name that does not exist)
    goes through, the address first: a throttled address is refused before it can add to the
    account's counters. An unknown name has only the address's counter (its answers cannot differ
    from a real account's: both refuse without hashing, both answer like a wrong password)."""
    keys = [Key(f"address:{address}", ADDRESS)]
    if account_id is not None:
        keys.append(Key(f"pair:{account_id}:{address}", PAIR, account_id))
        keys.append(Key(account_key(account_id), ACCOUNT, account_id, address))
    return keys
