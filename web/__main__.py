"""python -m web"""

import asyncio

import uvicorn

from chassis.logging import configure
from chassis.server import Server

from .bootstrap import build

if __name__ == "__main__":
    app, settings = build()
    configure("web", settings.log_level)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        proxy_headers=False,
    )
    asyncio.run(Server(config).serve())
