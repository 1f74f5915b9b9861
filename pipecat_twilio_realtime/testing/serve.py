"""Serve an ASGI app (your bot's FastAPI app) with uvicorn on 127.0.0.1, and find free loopback ports.

For the length of a test or a simulated call; ``free_port`` is for a server a test starts itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["free_port", "serve_app"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port of ``host`` nothing listens on now (bound, read and released), for a server started next.

    Until something binds it, a connection to it is refused.
    """
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


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
