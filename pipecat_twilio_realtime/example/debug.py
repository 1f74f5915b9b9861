"""Opt-in debug endpoints for soak runs: the process's resources and its tracemalloc top, loopback only.

Off unless ``BOT_DEBUG_ENDPOINTS=1`` is set; even then they answer only clients on 127.0.0.1/::1 (anyone
else gets 404, as if they did not exist). Never set it on a process reachable through a proxy that runs on
the same machine: its requests come from loopback too.

* ``GET /debug/process`` (``?gc=1`` collects garbage first): ``rss_kb``, ``fds``, ``threads``, ``tasks``
  (live asyncio tasks), ``objects`` (objects the garbage collector tracks), ``traced_kb`` (memory
  tracemalloc sees, 0 when it is off).
* ``POST /debug/tracemalloc/baseline``: take the snapshot later diffs are against.
* ``GET /debug/tracemalloc?top=N``: the N source lines whose live allocations grew most since the
  baseline. Tracemalloc itself is started by Python's own ``PYTHONTRACEMALLOC=<frames>`` (it slows the
  process several times: soak runs only); without it the endpoint answers 409.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import tracemalloc
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from loguru import logger

from pipecat_twilio_realtime import quote_for_log

DEBUG_SETTING = "BOT_DEBUG_ENDPOINTS"
"""The environment variable that turns the debug endpoints on (``1``)."""

_LOOPBACK = frozenset({"127.0.0.1", "::1"})


def process_sample(*, collect: bool = False) -> dict[str, int]:
    """This process's resources now.

    Args:
        collect: Run a full garbage collection first (so garbage is not counted as retained).

    Returns:
        ``rss_kb``, ``fds``, ``threads``, ``tasks``, ``objects`` and ``traced_kb``.
    """
    if collect:
        gc.collect()
    rss_kb = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    try:
        tasks = len(asyncio.all_tasks())
    except RuntimeError:  # no running loop (not when served)
        tasks = 0
    return {
        "rss_kb": rss_kb,
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
        "tasks": tasks,
        "objects": len(gc.get_objects()),
        "traced_kb": tracemalloc.get_traced_memory()[0] // 1024 if tracemalloc.is_tracing() else 0,
    }


def top_growth(baseline: tracemalloc.Snapshot, top: int) -> list[dict[str, Any]]:
    """The source lines whose live allocations grew most since ``baseline``.

    Args:
        baseline: The earlier snapshot.
        top: How many lines.

    Returns:
        ``{"where": "file:line", "size_kb": growth, "count": growth in blocks}``, largest first.
    """
    diff = tracemalloc.take_snapshot().compare_to(baseline, "lineno")
    return [
        {
            "where": str(stat.traceback[0]),
            "size_kb": round(stat.size_diff / 1024, 1),
            "count": stat.count_diff,
        }
        for stat in diff[:top]
    ]


def install_debug_routes(app: FastAPI, env: Mapping[str, str] | None = None) -> bool:
    """Add the ``/debug/...`` routes to ``app`` when ``BOT_DEBUG_ENDPOINTS=1``.

    Args:
        app: The bot's app.
        env: Where to read the switch (default: ``os.environ``).

    Returns:
        Whether the routes were added.
    """
    if ((os.environ if env is None else env).get(DEBUG_SETTING) or "").strip() != "1":
        return False
    logger.warning(f"{DEBUG_SETTING}=1: /debug/process and /debug/tracemalloc answer loopback clients")
    state: dict[str, tracemalloc.Snapshot] = {}

    def stranger(request: Request) -> JSONResponse | None:
        host = request.client.host if request.client else ""
        if host in _LOOPBACK:
            return None
        logger.warning(f"refused a debug request from {quote_for_log(host)}: loopback only")
        return JSONResponse({"detail": "Not Found"}, status_code=404)

    @app.get("/debug/process")
    async def debug_process(request: Request, gc: int = 0) -> JSONResponse:
        return stranger(request) or JSONResponse(process_sample(collect=gc == 1))

    @app.post("/debug/tracemalloc/baseline")
    async def debug_baseline(request: Request) -> JSONResponse:
        if (refused := stranger(request)) is not None:
            return refused
        if not tracemalloc.is_tracing():
            return JSONResponse({"detail": "tracemalloc is off: start with PYTHONTRACEMALLOC"}, 409)
        gc.collect()
        state["baseline"] = tracemalloc.take_snapshot()
        return JSONResponse({"traced_kb": tracemalloc.get_traced_memory()[0] // 1024})

    @app.get("/debug/tracemalloc")
    async def debug_tracemalloc(request: Request, top: int = 15) -> JSONResponse:
        if (refused := stranger(request)) is not None:
            return refused
        if not tracemalloc.is_tracing() or "baseline" not in state:
            return JSONResponse({"detail": "tracemalloc is off or no baseline was taken"}, 409)
        gc.collect()
        return JSONResponse({"top": top_growth(state["baseline"], max(1, min(top, 100)))})

    return True
