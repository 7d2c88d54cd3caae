"""Sheets at the HTTP edge, in and out.

In: the body read as a stream and refused (413) past the cap before it is all in memory, then
parsed in a worker thread so the event loop keeps answering (sign-in, health) while a sheet is
read. Parsing is bounded: one sheet at a time per process, a few more waiting; past that the
caller is asked to come back (503), rather than queueing without limit. Callers check the
caller's right to upload BEFORE calling `read_sheet`.

Out: `streamed` sends an export whose failure is never mistaken for a finished file.
See docs/decisions/0009-uploads-and-exports.md."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from .errors import DomainError
from .sheets import read_rows

DEFAULT_MAX_UPLOAD_BYTES = 1_000_000
PARSERS = 1  # sheets parsed at once per process: parsing holds the GIL, sign-in must keep its share
WAITING = 4  # sheets waiting for a parser, beyond which the caller is told to retry


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class Busy(DomainError):
    status = 503
    code = "busy"


_parsers: asyncio.Semaphore | None = None
_waiting = 0


def _semaphore() -> asyncio.Semaphore:
    global _parsers
    if _parsers is None:
        _parsers = asyncio.Semaphore(PARSERS)
    return _parsers


def upload_limit(request: Request) -> int:
    runtime = getattr(request.app.state, "runtime", None)
    return getattr(getattr(runtime, "settings", None), "max_upload_bytes", DEFAULT_MAX_UPLOAD_BYTES)


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, read chunk by chunk, refused as soon as it passes `limit` bytes
    (whatever Content-Length said)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Tệp gửi lên vượt quá {limit // 1000} KB; hãy chia thành nhiều tệp nhỏ hơn")


async def parse_off_loop(parse: Any, data: bytes) -> Any:
    """`parse(data)` in a worker thread, at most PARSERS at once."""
    global _waiting
    parsers = _semaphore()
    if parsers.locked() and _waiting >= WAITING:
        raise Busy("Hệ thống đang đọc nhiều tệp cùng lúc; xin thử lại sau ít phút")
    _waiting += 1
    try:
        await parsers.acquire()
    finally:
        _waiting -= 1
    # The semaphore is given back when the thread ends, not when the caller stops waiting: a
    # caller that hangs up cannot leave more threads parsing than PARSERS.
    work = asyncio.ensure_future(asyncio.to_thread(parse, data))
    work.add_done_callback(lambda done: (parsers.release(), done.cancelled() or done.exception()))
    return await asyncio.shield(work)


async def read_sheet(request: Request) -> list[dict[str, str]]:
    """The rows of the sheet (CSV or .xlsx) in the request's body; see chassis.sheets.read_rows."""
    return await parse_off_loop(read_rows, await read_body(request, upload_limit(request)))


async def streamed(chunks: AsyncIterator[bytes], *, media_type: str, headers: dict[str, str]) -> StreamingResponse:
    """A streamed download whose first chunk is made before the status line is sent: what fails
    before it (an .xlsx is whole before its first byte) is an error response, not a 200 with an
    empty body. What fails after it breaks the connection before the body's end (no last chunk),
    so the client sees an incomplete download, never a file that looks finished."""
    first = await anext(chunks, b"")

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return StreamingResponse(body(), media_type=media_type, headers=headers)
