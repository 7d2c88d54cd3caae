"""Sheets at the HTTP edge, in and out.

In: the body read as a stream and refused (413) past the cap before it is all in memory, then
parsed in a worker process so the event loop keeps answering (sign-in, health) while a sheet is
read: a thread would share the GIL with the loop, and a dense sheet under the caps still costs
seconds of CPU. The worker's address space is capped, so even a parser bug cannot take the
service's memory. Parsing is bounded: one sheet at a time per service process, a few more
waiting; past that the caller is asked to come back (503), rather than queueing without limit.
Callers check the caller's right to upload BEFORE calling `read_sheet`.

Out: `streamed` sends an export that is whole or an error, never a truncated file that looks finished.
See docs/decisions/0009-uploads-and-exports.md."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import resource
import signal
import tempfile
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from .errors import DomainError
from .logging import get_logger
from .sheets import UnreadableSheet, read_rows

log = get_logger("chassis.sheet_http")

DEFAULT_MAX_UPLOAD_BYTES = 1_000_000
PARSERS = 1  # sheets parsed at once per service process (one worker process)
WAITING = 4  # sheets waiting for a parser, beyond which the caller is told to retry
PARSER_ADDRESS_SPACE = 2 * 1024**3  # the worker's RLIMIT_AS: a runaway parse fails there, not here


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


_pool: ProcessPoolExecutor | None = None


def _start_worker(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # Linux: the worker dies with its service, even one killed outright, rather than finish a parse for nobody.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # spawn, not fork: the service has threads (argon2, the store's driver) that fork would copy mid-state.
        _pool = ProcessPoolExecutor(
            max_workers=PARSERS,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(PARSER_ADDRESS_SPACE,),
        )
    return _pool


def _in_worker(parse: Any, data: bytes) -> tuple[str, Any]:
    """Runs in the worker: a refusal comes back as data (an exception's code and details would
    not survive pickling)."""
    try:
        return "ok", parse(data)
    except DomainError as refused:
        return "refused", (type(refused).__name__, refused.message, refused.code, refused.details)
    except MemoryError:
        return "refused", ("UnreadableSheet", "Tệp quá lớn hoặc quá phức tạp để đọc", "sheet_too_large", None)


async def parse_off_loop(parse: Any, data: bytes) -> Any:
    """`parse(data)` (a module-level function) in the worker process, at most PARSERS at once."""
    global _waiting, _pool
    parsers = _semaphore()
    if parsers.locked() and _waiting >= WAITING:
        raise Busy("Hệ thống đang đọc nhiều tệp cùng lúc; xin thử lại sau ít phút")
    _waiting += 1
    try:
        await parsers.acquire()
    finally:
        _waiting -= 1
    # The semaphore is given back when the worker is done, not when the caller stops waiting: a
    # caller that hangs up cannot leave more sheets parsing than PARSERS.
    try:
        try:
            work = asyncio.get_running_loop().run_in_executor(_executor(), _in_worker, parse, data)
        except BrokenProcessPool:  # the last worker died: a new pool, once
            _pool = None
            work = asyncio.get_running_loop().run_in_executor(_executor(), _in_worker, parse, data)
    except BaseException:
        parsers.release()
        raise

    def finished(done: asyncio.Future[Any]) -> None:
        parsers.release()
        if not done.cancelled():
            done.exception()  # retrieved: an abandoned parse's error is not reported as never seen

    work.add_done_callback(finished)
    try:
        outcome, value = await asyncio.shield(work)
    except BrokenProcessPool:
        log.error("sheet parser died; starting a new one")
        _pool = None
        raise UnreadableSheet("Tệp quá lớn hoặc quá phức tạp để đọc", code="sheet_too_large") from None
    if outcome == "refused":
        kind, message, code, details = value
        error = UnreadableSheet(message, code=code) if kind == "UnreadableSheet" else DomainError(message, code=code)
        error.details = details
        raise error
    return value


async def read_sheet(request: Request) -> list[dict[str, str]]:
    """The rows of the sheet (CSV or .xlsx) in the request's body; see chassis.sheets.read_rows."""
    return await parse_off_loop(read_rows, await read_body(request, upload_limit(request)))


async def streamed(
    chunks: AsyncIterator[bytes], *, media_type: str, headers: dict[str, str], memory_bytes: int = 1 << 20
) -> StreamingResponse:
    """A download that is whole or an error, never a file cut short that looks finished.

    The rows are still read as a stream (memory stays bounded: past `memory_bytes` the file is
    on disk), but the whole file is written before the status line goes out, so any failure on
    the way is an error response. Streaming straight to the client cannot give that here: once
    a 200 has started, the HTTP shell's middleware (Starlette's BaseHTTPMiddleware) ends the body
    cleanly when the app fails, and the client receives a truncated file as a complete one. The
    Content-Length sent lets the client tell a short body from a whole one."""
    spool = tempfile.SpooledTemporaryFile(max_size=memory_bytes)
    try:
        async for chunk in chunks:
            spool.write(chunk)
        size = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise

    async def body() -> AsyncIterator[bytes]:
        with spool:
            while chunk := spool.read(1 << 16):
                yield chunk

    return StreamingResponse(body(), media_type=media_type, headers={**headers, "Content-Length": str(size)})
