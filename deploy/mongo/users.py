"""A MongoDB user per service, limited to its own database (decision 0008), made through an
administrator's connection: what deploy/mongo/init-users.js does for Compose and a ministry's DBA,
for the native launcher and the tests. A store URL without credentials (authentication off) is
left as it is: then every service uses it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from pymongo import MongoClient


def has_credentials(url: str) -> bool:
    return urlsplit(url).username is not None


def service_url(admin_url: str, user: str, password: str, database: str) -> str:
    """The administrator's host and options, as `user`, authenticated against its own database."""
    parts = urlsplit(admin_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
    options = [o for o in parts.query.split("&") if o and not o.startswith("authSource=")]
    query = "&".join([*options, f"authSource={quote(database, safe='')}"])
    return urlunsplit((parts.scheme, netloc, "/" + quote(database, safe=""), query, ""))


def ensure_user(admin_url: str, database: str, user: str, password: str) -> None:
    """`user` may read and write `database`, nothing else; made or given the new password."""
    with MongoClient[dict[str, Any]](admin_url, serverSelectionTimeoutMS=10_000) as client:
        db = client[database]
        roles = [{"role": "readWrite", "db": database}]
        if db.command("usersInfo", user)["users"]:
            db.command("updateUser", user, pwd=password, roles=roles)
        else:
            db.command("createUser", user, pwd=password, roles=roles)


def drop_user(admin_url: str, database: str, user: str) -> None:
    with MongoClient[dict[str, Any]](admin_url, serverSelectionTimeoutMS=10_000) as client:
        if client[database].command("usersInfo", user)["users"]:
            client[database].command("dropUser", user)
