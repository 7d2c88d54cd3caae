"""Wires accounts: its settings, store, token issuer, API and handlers. Nothing else builds infrastructure."""

from __future__ import annotations

import asyncio
import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chassis import audit as audit_log
from chassis.auth import TokenVerifier
from chassis.errors import Conflict
from chassis.http import error_body
from chassis.logging import get_logger
from chassis.runtime import Runtime

from . import handlers
from .admin_api import router as admin_router
from .api import router
from .domain import model
from .imports import Importer
from .passwords import HashQueueFull, PasswordHashing
from .settings import AccountsSettings
from .store import AccountsStore
from .throttling import SignInThrottle
from .tokens import AccountSessions, TokenIssuer, load_signing_keys

log = get_logger("accounts.bootstrap")


def build(settings: AccountsSettings | None = None) -> tuple[FastAPI, AccountsSettings]:
    settings = settings or AccountsSettings()
    runtime = Runtime(settings, verify_tokens=False)
    accounts = AccountsStore(runtime.store, runtime.audit)
    handlers.subscribe(runtime)
    app = runtime.app("MOHA accounts", router, admin_router)
    app.state.accounts = accounts
    app.state.sessions = AccountSessions(accounts)
    hashing = app.state.hashing = PasswordHashing(
        settings.hash_workers or os.cpu_count() or 1, settings.hash_queue_limit, settings.hash_queue_per_address
    )
    app.state.throttle = SignInThrottle(accounts)
    # A sheet's passwords wait behind every sign-in (passwords.py).
    importer = app.state.importer = Importer(accounts, hashing.hash_bulk)

    @app.exception_handler(HashQueueFull)
    async def busy(_request: Request, exc: HashQueueFull) -> JSONResponse:
        return JSONResponse(
            error_body("busy", f"Hệ thống đang bận; vui lòng thử lại sau {exc.retry_after} giây"),
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )

    # Read at build time: a missing key stops the process before it serves anything.
    tokens = app.state.tokens = TokenIssuer(
        load_signing_keys(settings.signing_keys_pem()),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        ttl_seconds=settings.token_ttl_seconds,
    )
    app.state.verifier = TokenVerifier(
        None, issuer=settings.token_issuer, audience=settings.token_audience, keys=tokens.public_keys
    )

    async def start() -> None:
        await accounts.create_indexes()
        await accounts.adopt_legacy_audit()  # entries written before the chain, chained once
        await ensure_root_admin(accounts, settings, hashing)
        await importer.resume()

    runtime.startup.append(start)
    return app, settings


async def ensure_root_admin(accounts: AccountsStore, settings: AccountsSettings, hashing: PasswordHashing) -> None:
    """First start: the root of the tree (the Ministry) and the first central administrator, whose
    BOOTSTRAP_ADMIN_PASSWORD is an initial password like any other."""
    if await accounts.get_unit(model.ROOT_UNIT_ID) is None:
        try:
            await accounts.add_unit(model.register_root("BNV", "Bộ Nội vụ"))
        except Conflict:  # another replica created it first
            log.info("root unit already created")
    if not settings.bootstrap_admin_password or await accounts.find_account(settings.bootstrap_admin_username):
        return
    model.check_password_policy(settings.bootstrap_admin_password)
    # Replicas starting together: the one that won the root's commit applies it a moment later (or
    # the relay's recovery does, after its grace), so the others wait to read it.
    for _ in range(int(2 * (settings.relay_grace_seconds + 30))):
        if (root := await accounts.get_unit(model.ROOT_UNIT_ID)) is not None:
            break
        await asyncio.sleep(0.5)
    else:
        raise RuntimeError("the root unit was committed by another replica but never applied")
    account = model.issue_account(
        None,
        root,
        username=settings.bootstrap_admin_username,
        role="central_admin",
        display_name="Quản trị hệ thống cấp Trung ương",
        email=None,
        password_hash=await hashing.hash_bulk(settings.bootstrap_admin_password),
    )
    # Like any issued account, it must choose its own password at first sign-in: the bootstrap one
    # sits in a deployment's environment, manifests and shell histories.
    try:
        await accounts.add_account(
            account,
            audit_log.entry(
                None,
                "account_issued",
                target_id=account.id,
                unit_lineage=root.lineage,
                role="central_admin",
                bootstrap=True,
            ),
        )
    except Conflict:
        pass
