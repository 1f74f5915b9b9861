"""Serve a bot written for Pipecat's runner (``async def bot(runner_args)``) for a simulated call.

The bot runs as Pipecat's runner runs it, with the runner's own code: ``python FILE -t twilio --host
127.0.0.1 --port PORT -x 127.0.0.1:PORT`` in a child process, its Realtime URL pointed at the simulator's
stand-in through ``OPENAI_REALTIME_URL``. Its ``MediaStatsObserver`` summary is read back from the
``WS_STOP`` line it logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from ..testing.serve import free_port

__all__ = ["is_runner_bot", "serve_runner_bot", "summary_from_log"]

START_TIMEOUT_S = 60.0
"""How long the runner may take to listen (Pipecat's imports take seconds on a loaded machine)."""

_WS_STOP = re.compile(r"WS_STOP (?P<fields>.*)$", re.MULTILINE)
_FIELD = re.compile(r"(\w+)=(\S+)")
_RENAMED = {"rx": "rx_bytes", "tx": "tx_bytes"}


def is_runner_bot(module: object) -> bool:
    """Whether ``module`` is a Pipecat runner bot (a ``bot()`` and not our ``create_app`` contract)."""
    return callable(getattr(module, "bot", None)) and not hasattr(module, "create_app")


async def _listening(port: int, process: asyncio.subprocess.Process, log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while loop.time() < deadline:
        if process.returncode is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]  # noqa: ASYNC240 - once, on failure
            raise RuntimeError(f"the runner exited with status {process.returncode}: {tail[0]}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the runner did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S:g} s")


@contextlib.asynccontextmanager
async def serve_runner_bot(path: Path, env: Mapping[str, str], log: Path) -> AsyncIterator[str]:
    """Run ``path`` under Pipecat's runner as a Twilio bot on 127.0.0.1 until the block ends.

    Args:
        path: The bot file (it calls ``pipecat.runner.run.main()`` under ``if __name__ == "__main__"``).
        env: Its environment (the Realtime URL and key of the stand-in).
        log: Where its output goes.

    Yields:
        The media-stream websocket URL to call.

    Raises:
        RuntimeError: The runner exited or never listened (its last output line says why).
    """
    port = free_port()
    host = f"127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(path),
            *("-t", "twilio", "--host", "127.0.0.1", "--port", str(port), "-x", host),
            env={**env, "PYTHONUNBUFFERED": "1"},
            cwd=str(path.parent.resolve()),
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            await _listening(port, process, log)
            yield f"ws://{host}/ws"
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, 15)
                try:
                    await asyncio.wait_for(process.wait(), 10)
                except TimeoutError:
                    os.killpg(process.pid, 9)
                    await process.wait()


def summary_from_log(text: str) -> dict[str, Any] | None:
    """The last ``WS_STOP`` line of a bot's log as a call summary (numbers as numbers), or ``None``.

    ``noise=none`` becomes ``{}`` and ``noise=pcm16_as_ulaw:1,white_noise:2`` a dict of counts, as in
    ``MediaStatsObserver``'s own summary; so do ``tokens=IN/OUT`` (``{"input": IN, "output": OUT}``) and
    ``cost=$X`` (``cost_usd``).
    """
    lines = _WS_STOP.findall(text)
    if not lines:
        return None
    summary: dict[str, Any] = {}
    for key, value in _FIELD.findall(lines[-1]):
        if key == "noise":
            summary[key] = (
                {}
                if value == "none"
                else {k: int(n) for k, _, n in (part.partition(":") for part in value.split(","))}
            )
            continue
        if key in ("tokens", "cost"):  # tokens=IN/OUT cost=$0.0123, as MediaStatsObserver's summary has them
            summary.update(_tokens_field(key, value))
            continue
        with contextlib.suppress(ValueError):
            summary[_RENAMED.get(key, key)] = float(value) if "." in value else int(value)
            continue
        summary[_RENAMED.get(key, key)] = None if value == "-" else value
    return summary


def _tokens_field(key: str, value: str) -> dict[str, Any]:
    if key == "cost":
        with contextlib.suppress(ValueError):
            return {"cost_usd": float(value.removeprefix("$"))}
        return {"cost_usd": None}
    tokens_in, _, tokens_out = value.partition("/")
    if tokens_in.isdigit() and tokens_out.isdigit():
        return {"tokens": {"input": int(tokens_in), "output": int(tokens_out)}}
    return {"tokens": None}
