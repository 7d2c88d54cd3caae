"""A flood of sign-ins from one source address, in a process of its own so that the flooding
client's own work does not slow the measurements of the test that runs it:

    python -m tests.support.flood URL ADDRESS N

prints `go` when it starts sending, then one JSON line: the count of each status, and whether
every 429 said when to come back.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

import httpx


async def flood(url: str, address: str, n: int) -> dict:
    transport = httpx.AsyncHTTPTransport(local_address=address, limits=httpx.Limits(max_connections=n))
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=120) as client:
        print("go", flush=True)
        answers = await asyncio.gather(
            *(client.post("/auth/token", json={"username": f"ten-doan-{i}", "password": f"doan-{i}"}) for i in range(n))
        )
    return {
        "statuses": Counter(str(r.status_code) for r in answers),
        "retry_after": all(int(r.headers.get("Retry-After", "0")) >= 1 for r in answers if r.status_code == 429),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(flood(sys.argv[1], sys.argv[2], int(sys.argv[3])))), flush=True)
