"""Events accounts consumes. None yet: accounts is the source of the tree and of the accounts.
(Later: bounced addresses from NotificationFailed.)"""

from chassis.runtime import Runtime


def subscribe(runtime: Runtime) -> None:
    del runtime
