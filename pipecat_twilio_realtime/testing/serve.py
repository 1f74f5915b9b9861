"""Serve an ASGI app (your bot's FastAPI app) with uvicorn on 127.0.0.1 for the length of a test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["serve_app"]


@contextlib.asynccontextmanager
async def serve_app(
    app: Any, *, host: str = "127.0.0.1", start_timeout_s: float = 15.0
) -> AsyncIterator[int]:
    """Serve ``app`` on a free port of ``host`` and yield the port; stop the server on exit.

    The app's lifespan is not run (tests build the app's state themselves).

    Args:
        app: The ASGI app.
        host: Where to listen (loopback by default).
        start_timeout_s: How long the server may take to start.

    Yields:
        The port it listens on.
    """
    import uvicorn  # the [example] extra

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(start_timeout_s):
            while not server.started:
                if task.done():
                    await task  # it failed to start: raise why
                await asyncio.sleep(0.01)
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
