"""Errors a request can end in. Domain code raises these (they carry no I/O); the HTTP shell turns
them into a status and a message a Vietnamese user can read."""

from __future__ import annotations


class DomainError(Exception):
    status = 422
    code = "rule_violated"
    details: dict | None = None  # more for programs, e.g. the errors of each row of a sheet

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
