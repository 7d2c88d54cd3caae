"""uvicorn's server for every process of the platform, the web front's too, waking once a second
when idle instead of ten times."""

from __future__ import annotations

import asyncio
import contextlib
from types import FrameType

import uvicorn


class Server(uvicorn.Server):
    """uvicorn's main loop sleeps 0.1 s between two looks at whether to stop and at the clock for
    the Date header: about 1 ms of CPU a second in a process that has nothing to do, and the
    platform runs dozens of processes. Here it looks once a second (the Date header still changes
    each second), and a signal to stop wakes it at once."""

    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            # on_tick does its once-a-second work when the counter is a multiple of 10.
            counter = (counter + 10) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # A signal handler (or another thread): the loop is woken through its own safe door.
        if self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed already
                self._loop.call_soon_threadsafe(self._wake.set)
