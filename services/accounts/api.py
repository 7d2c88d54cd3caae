"""Accounts' HTTP API: the tree, issuing accounts, signing in, and the public key set."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from chassis.auth import Principal, Unauthenticated
from chassis.errors import Forbidden, NotFound
from chassis.http import CurrentPrincipal
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from .domain import model
from .store import AccountsStore
from .tokens import TokenIssuer

router = APIRouter()
# argon2id at OWASP's recommended cost (19 MiB, 2 passes): the library default (64 MiB x 4 lanes)
# made accounts peak at 460 MiB when several hashes ran at once.
hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Hashing is CPU-bound: no more at once than the machine has cores, the rest wait their turn.
_hashing = asyncio.Semaphore(max(1, os.cpu_count() or 1))


async def hash_password(password: str) -> str:
    async with _hashing:
        return await asyncio.to_thread(hasher.hash, password)


async def verify_password(stored: str, password: str) -> bool:
    async with _hashing:
        try:
            return await asyncio.to_thread(hasher.verify, stored, password)
        except (VerifyMismatchError, InvalidHashError):
            return False


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LoginRequest(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    must_change_password: bool


class UnitRequest(Strict):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=300)
    level: Literal["province", "district", "commune", "agency"]
    parent_id: str = Field(min_length=1, max_length=64)


class UnitResponse(BaseModel):
    unit_id: str
    code: str
    name: str
    level: str
    parent_id: str | None
    path: list[str]


class AccountRequest(Strict):
    username: str = Field(min_length=3, max_length=64)
    unit_id: str = Field(min_length=1, max_length=64)
    role: Literal["central_admin", "province_admin", "province_supervisor", "district_admin",
                  "district_supervisor", "reporting_unit"]
    display_name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = None


class IssuedAccount(BaseModel):
    account_id: str
    username: str
    unit_id: str
    role: str
    initial_password: str = Field(description="shown once; the holder must change it at first login")


def accounts_store(request: Request) -> AccountsStore:
    return request.app.state.accounts


def token_issuer(request: Request) -> TokenIssuer:
    return request.app.state.tokens


Accounts = Annotated[AccountsStore, Depends(accounts_store)]
Tokens = Annotated[TokenIssuer, Depends(token_issuer)]


@router.get("/.well-known/jwks.json", tags=["auth"])
async def jwks(tokens: Tokens) -> dict:
    return tokens.jwks()


@router.post("/auth/token", tags=["auth"])
async def login(body: LoginRequest, accounts: Accounts, tokens: Tokens) -> TokenResponse:
    account = await accounts.find_account(body.username.lower())
    # Hash even for an unknown name so that timing does not tell which names exist.
    stored = account["password_hash"] if account else _DUMMY_HASH
    if not await verify_password(stored, body.password):
        account = None
    if account is None or account["status"] != "active":
        raise Unauthenticated("tên đăng nhập hoặc mật khẩu không đúng")
    token, ttl = tokens.issue(account)
    return TokenResponse(access_token=token, expires_in=ttl, must_change_password=account["must_change_password"])


@router.post("/units", status_code=201, tags=["units"])
async def register_unit(body: UnitRequest, principal: CurrentPrincipal, accounts: Accounts) -> UnitResponse:
    actor_unit, parent = await _actor_unit(accounts, principal), await accounts.get_unit(body.parent_id)
    if parent is None:
        raise NotFound("Không tìm thấy đơn vị cha")
    unit = model.register_unit(principal, actor_unit, parent, body.code, body.name, body.level)
    await accounts.add_unit(unit)
    return _unit_response(unit)


@router.get("/units/{unit_id}", tags=["units"])
async def get_unit(unit_id: str, principal: CurrentPrincipal, accounts: Accounts) -> UnitResponse:
    unit = await accounts.get_unit(unit_id)
    # Unknown and out-of-scope look the same: a guessed id learns nothing.
    if unit is None or principal.unit_id not in unit.lineage:
        raise NotFound("Không tìm thấy đơn vị")
    return _unit_response(unit)


@router.post("/accounts", status_code=201, tags=["accounts"])
async def issue_account(body: AccountRequest, principal: CurrentPrincipal, accounts: Accounts) -> IssuedAccount:
    unit = await accounts.get_unit(body.unit_id)
    actor_unit = await _actor_unit(accounts, principal)
    if unit is None or not actor_unit.contains(unit):
        raise Forbidden("Đơn vị không tồn tại hoặc nằm ngoài phạm vi quản trị của bạn")
    username = body.username.lower()
    model.check_issuance(principal, actor_unit, unit, body.role, username)
    password = model.new_initial_password()
    account = model.issue_account(
        principal, unit, username=username, role=body.role, display_name=body.display_name,
        email=str(body.email) if body.email else None, password_hash=await hash_password(password),
    )
    await accounts.add_account(account)
    return IssuedAccount(account_id=account.id, username=username, unit_id=unit.id, role=body.role,
                         initial_password=password)


@router.get("/me", tags=["accounts"])
async def me(principal: CurrentPrincipal) -> dict:
    return {"account_id": principal.account_id, "username": principal.username, "unit_id": principal.unit_id,
            "role": principal.role}


async def _actor_unit(accounts: AccountsStore, principal: Principal) -> model.Unit:
    unit = await accounts.get_unit(principal.unit_id)
    if unit is None:
        raise Forbidden("Đơn vị của tài khoản không còn tồn tại")
    return unit


def _unit_response(unit: model.Unit) -> UnitResponse:
    return UnitResponse(unit_id=unit.id, code=unit.code, name=unit.name, level=unit.level,
                        parent_id=unit.parent_id, path=unit.path)


_DUMMY_HASH = hasher.hash("not-a-real-password")
