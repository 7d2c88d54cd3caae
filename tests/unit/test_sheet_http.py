"""Sheets at the HTTP edge: the streamed byte cap, parsing in a worker process within its bound, and
exports that fail before their first byte (issue 11, items 1 and 7). An ASGI request is built
by hand: no server is needed to feed a body in chunks."""

import asyncio
import os
import time

import pytest
from starlette.requests import Request

from chassis import sheet_http
from chassis.sheet_http import Busy, PayloadTooLarge, parse_off_loop, read_body, streamed
from chassis.sheets import UnreadableSheet, read_rows


def request(chunks: list[bytes], headers: dict[str, str] | None = None) -> Request:
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[int] = []

    async def receive():
        sent.append(1)
        return messages[len(sent) - 1]

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    req = Request(scope, receive)
    req.state.received = sent
    return req


async def test_the_body_is_refused_as_soon_as_it_passes_the_cap_whatever_its_length_said():
    req = request([b"x" * 400] * 100, {"content-length": "10"})
    with pytest.raises(PayloadTooLarge):
        await read_body(req, 1000)
    assert len(req.state.received) == 3  # stopped reading at the third chunk, not the hundredth


async def test_a_declared_length_past_the_cap_is_refused_unread():
    req = request([b"x"], {"content-length": "5000"})
    with pytest.raises(PayloadTooLarge) as refused:
        await read_body(req, 1000)
    assert refused.value.status == 413 and req.state.received == []


def slow(data: bytes) -> bytes:
    time.sleep(0.5)
    return data


def refuse(data: bytes) -> bytes:
    raise UnreadableSheet("không đọc được", code="too_many_columns")


async def test_parsing_runs_in_a_worker_one_at_a_time_and_the_queue_is_bounded():
    first = asyncio.create_task(parse_off_loop(slow, b"1"))
    waiting = [asyncio.create_task(parse_off_loop(slow, b"w")) for _ in range(sheet_http.WAITING)]
    await asyncio.sleep(0)
    with pytest.raises(Busy) as busy:
        await parse_off_loop(slow, b"one too many")
    assert busy.value.status == 503
    ticks, started = 0, time.monotonic()
    while not first.done():  # the loop keeps turning while a sheet is parsed
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks > 10
    assert await first == b"1" and [await w for w in waiting] == [b"w"] * sheet_http.WAITING
    assert time.monotonic() - started >= 0.5 * sheet_http.WAITING  # one at a time


def die(data: bytes) -> bytes:
    os._exit(9)  # what the out-of-memory killer would do


async def test_a_worker_that_dies_is_a_422_and_a_new_one_takes_over():
    with pytest.raises(UnreadableSheet) as refused:
        await parse_off_loop(die, b"")
    assert refused.value.code == "sheet_too_large"
    assert await parse_off_loop(read_rows, b"a\nb\n") == [{"#row": "2", "a": "b"}]


async def test_a_refusal_in_the_worker_keeps_its_code_and_the_worker_goes_on():
    with pytest.raises(UnreadableSheet) as refused:
        await parse_off_loop(refuse, b"")
    assert refused.value.code == "too_many_columns" and refused.value.status == 422
    assert await parse_off_loop(read_rows, b"a\nb\n") == [{"#row": "2", "a": "b"}]


async def test_an_export_that_fails_midway_is_an_error_not_a_short_200():
    async def failing():
        yield b"header\r\n"
        yield b"a row\r\n"
        raise RuntimeError("the store went away")

    with pytest.raises(RuntimeError):
        await streamed(failing(), media_type="text/csv", headers={})

    async def fine():
        yield b"a" * 700_000
        yield b"b" * 700_000  # past the in-memory part: spooled to disk

    response = await streamed(fine(), media_type="text/csv", headers={"X-A": "1"})
    assert response.headers["content-length"] == "1400000" and response.headers["x-a"] == "1"
    assert b"".join([c async for c in response.body_iterator]) == b"a" * 700_000 + b"b" * 700_000
