"""A streamed export that fails midway, through the real HTTP shell under uvicorn: the client
must not receive a complete-looking file (issue 11, item 7). Needs no broker and no store."""

import asyncio
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from chassis.http import create_app
from chassis.sheet_http import streamed
from chassis.sheets import csv_stream

pytestmark = pytest.mark.integration


async def _ready() -> dict[str, bool]:
    return {"ok": True}


@pytest.fixture(scope="module")
def server():
    app = create_app("downloads", verifier=None, max_body_bytes=1000, readiness=_ready)

    async def rows(fail: bool):
        yield ["Xã A"]
        await asyncio.sleep(0.01)
        if fail:
            raise RuntimeError("the store went away")
        yield ["Xã B"]

    @app.get("/export")
    async def export(fail: bool = False):
        return await streamed(csv_stream(["Tên"], rows(fail)), media_type="text/csv", headers={})

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(10)


def test_a_whole_export_arrives_whole(server):
    response = httpx.get(server + "/export")
    assert response.status_code == 200
    assert response.content.decode("utf-8-sig") == "Tên\r\nXã A\r\nXã B\r\n"
    assert int(response.headers["content-length"]) == len(response.content)


def test_an_export_failing_midway_is_an_error_not_a_complete_looking_file(server):
    try:
        response = httpx.get(server + "/export", params={"fail": "true"})
    except httpx.HTTPError:
        return  # a broken download is an acceptable answer too; a clean 200 is not
    assert response.status_code >= 500, (response.status_code, response.content)
