"""The platform's uvicorn server (chassis/server.py): idle, it looks at the clock once a second,
not ten times; told to stop, it stops at once, not at its next look; and it serves as uvicorn
does, Date header included."""

import asyncio
import signal
import threading
import time

import httpx
import uvicorn

from chassis.server import Server
from deploy.launch import free_port
from deploy.tls import client_tls


async def app(scope, receive, send):
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})


class Counting(Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ticks = 0
        self.main_loop_ended = 0.0

    async def on_tick(self, counter: int) -> bool:
        self.ticks += 1
        return await super().on_tick(counter)

    async def main_loop(self) -> None:
        await super().main_loop()
        self.main_loop_ended = time.monotonic()


def test_idle_it_wakes_once_a_second_and_a_signal_stops_it_at_once():
    port = free_port()
    server = Counting(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    # Not the main thread: uvicorn installs no signal handlers there, and the test sends none.
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", verify=client_tls()) as http:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        response = http.get("/")
        assert (response.status_code, response.text) == (200, "ok") and response.headers["date"].endswith("GMT")

        ticks = server.ticks
        time.sleep(2.2)
        assert server.ticks - ticks <= 3  # uvicorn's own loop: 22

    told = time.monotonic()
    server.handle_exit(signal.SIGTERM, None)
    thread.join(10)
    assert not thread.is_alive()
    assert server.main_loop_ended - told < 0.8  # woken, not at the end of its one-second wait
