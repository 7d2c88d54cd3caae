"""Each service's own record of accounts whose tokens must no longer work, fed by accounts' events
(AccountRevoked; PasswordReset, PasswordChanged and AccountRoleChanged end the tokens issued
before them).

A token is valid until it expires (TOKEN_TTL_SECONDS, 15 minutes by default); revoking an account
or resetting its password must not wait that long. So every service keeps this read model and
checks each request against it: a revocation takes effect in a service as soon as it has consumed
AccountRevoked (well under a second when all runs), and at the latest when the token expires.
"""

from __future__ import annotations

from datetime import datetime

from moha_contracts import AccountRevoked, AccountRoleChanged, Envelope, PasswordChanged, PasswordReset

from . import readmodel
from .auth import Principal, Unauthenticated
from .messaging import EventConsumers
from .store import Store


class SessionDirectory:
    def __init__(self, store: Store) -> None:
        self.sessions = store["sessions"]

    def subscribe(self, consumers: EventConsumers) -> None:
        consumers.on(AccountRevoked)(self._on_revoked)
        consumers.on(PasswordReset)(self._on_password_reset)
        consumers.on(PasswordChanged)(self._on_password_changed)
        consumers.on(AccountRoleChanged)(self._on_role_changed)

    # Both parts only ever move one way, ordered by their own value (chassis/readmodel.py): a
    # revocation is for good, and the line before which tokens end only moves forward; so events
    # seen late, twice or at once undo nothing, and an account's first events may come in any order.
    async def _on_revoked(self, envelope: Envelope, event: AccountRevoked) -> None:
        await readmodel.apply(self.sessions, event.account_id, "=revoked_at", event.revoked_at, {"revoked": True})

    async def _on_password_reset(self, envelope: Envelope, event: PasswordReset) -> None:
        await self._end_tokens_before(event.account_id, event.reset_at)

    async def _on_password_changed(self, envelope: Envelope, event: PasswordChanged) -> None:
        # Whoever held a token of the old password (a stolen one, another device) is signed out.
        await self._end_tokens_before(event.account_id, event.changed_at)

    async def _on_role_changed(self, envelope: Envelope, event: AccountRoleChanged) -> None:
        # A token carries its role: one issued before the change must not keep the old role.
        await self._end_tokens_before(event.account_id, event.changed_at)

    async def _end_tokens_before(self, account_id: str, valid_after: datetime) -> None:
        await readmodel.apply(self.sessions, account_id, "=valid_after", valid_after, {})

    async def check(self, principal: Principal) -> None:
        record = await self.sessions.find_one({"_id": principal.account_id})
        if record is None:
            return
        if record.get("revoked"):
            raise Unauthenticated("tài khoản đã bị thu hồi")
        if record.get("valid_after") is not None and principal.issued_at < record["valid_after"]:
            raise Unauthenticated("mã truy cập đã hết hiệu lực; hãy đăng nhập lại")
