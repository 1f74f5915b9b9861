"""Bot processes forked from one that has imported Pipecat once, for the benchmarks' ``--quick`` runs.

    python benchmarks/_bot_fork.py        (started by ``BotForker``; JSON requests on stdin)

A fresh interpreter spends ~1.5 s of CPU (and seconds of wall time on a busy machine) importing Pipecat,
FastAPI and openai before a bot can answer; a smoke run starts up to six. Here one process imports them
once and forks a child per bot; the child runs ``_bot_server.py`` as ``python _bot_server.py ARGS`` would,
with that bot's environment, so each bot is still its own process (its CPU read from its own
``/proc/PID/stat``, from its first call on), only without the import. The full runs keep starting each
bot with a fresh interpreter, so their figures stay comparable with the ones already published.

Wire (one line each way per message, this file is both ends): request ``{"id", "script", "argv",
"env"}``; replies ``ID pid PID``, ``ID out LINE`` (a line the bot printed), ``ID exit CODE`` (as
``asyncio.subprocess.Process.returncode``: negative for a signal).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import runpy
import selectors
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


class _Prefixed(io.TextIOBase):
    """A child's stdout: each line goes to the forker's stdout as ``ID out LINE`` in one write."""

    def __init__(self, tag: int) -> None:
        self._tag = tag
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            os.write(1, f"{self._tag} out {line}\n".encode())
        return len(text)


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become ``python SCRIPT ARGV`` with the request's environment; never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [request["script"], *request["argv"]]
        sys.path[0] = str(Path(request["script"]).parent)
        sys.stdout = _Prefixed(request["id"])
        runpy.run_path(request["script"], run_name="__main__")
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    """The forker: import what the bots import, then fork one child per request until stdin closes."""
    import fastapi  # noqa: F401
    import pipecat.pipeline.worker
    import pipecat.serializers.twilio
    import pipecat.services.openai.realtime.llm
    import pipecat.transports.websocket.fastapi
    import pipecat.workers.runner  # noqa: F401
    import uvicorn  # noqa: F401

    import pipecat_twilio_realtime  # noqa: F401

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: dict[int, int] = {}  # pid -> request id
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    os.write(1, b"0 ready\n")
    buffered, open_ = b"", True
    while open_ or children:
        for key, _ in selector.select():
            if key.fd == wake_r:
                os.read(wake_r, 512)
                continue
            data = os.read(0, 65536)
            if not data:  # the benchmark is done: stop what is left
                open_ = False
                selector.unregister(0)
                for pid in children:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
                continue
            buffered += data
            *lines, buffered = buffered.split(b"\n")
            for line in lines:
                request = json.loads(line)
                sys.stdout.flush()
                pid = os.fork()
                if pid == 0:
                    _child(request)
                children[pid] = request["id"]
                os.write(1, f"{request['id']} pid {pid}\n".encode())
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            os.write(1, f"{children.pop(pid)} exit {os.waitstatus_to_exitcode(status)}\n".encode())


class _Lines:
    """What ``asyncio.subprocess.Process.stdout`` offers the benchmarks: ``readline()``."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def readline(self) -> bytes:
        return await self.queue.get()


class ForkedBot:
    """A bot forked by ``BotForker``, as much of ``asyncio.subprocess.Process`` as the benchmarks use."""

    def __init__(self, pid: int, stdout: _Lines, exited: asyncio.Future[int]) -> None:
        self.pid = pid
        self.stdout = stdout
        self._exited = exited

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    def send_signal(self, sig: int) -> None:
        if not self._exited.done():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)


class BotForker:
    """The benchmark's end: starts the forker, forks bots, and stops it (and any bot left) on exit."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._next = 0
        self._pids: dict[int, asyncio.Future[int]] = {}
        self._lines: dict[int, _Lines] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}

    async def __aenter__(self) -> BotForker:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert self._proc.stdout is not None
        ready = await asyncio.wait_for(self._proc.stdout.readline(), 60)
        if ready != b"0 ready\n":
            raise RuntimeError(f"the bot forker did not start: {ready!r}")
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            await asyncio.wait_for(self._proc.wait(), 10)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()
        if self._reader is not None:
            await self._reader

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for raw in self._proc.stdout:
            tag, kind, rest = raw.decode().rstrip("\n").split(" ", 2)
            request = int(tag)
            if kind == "pid":
                self._pids.pop(request).set_result(int(rest))
            elif kind == "out":
                self._lines[request].queue.put_nowait(rest.encode() + b"\n")
            elif kind == "exit":
                self._exits.pop(request).set_result(int(rest))
                self._lines.pop(request).queue.put_nowait(b"")  # end of its output, as a pipe's EOF

    async def start(self, script: Path, *args: str, env: dict[str, str]) -> ForkedBot:
        """``python SCRIPT ARGS`` with ``env`` (the whole environment), forked."""
        assert self._proc is not None and self._proc.stdin is not None
        self._next += 1
        loop = asyncio.get_running_loop()
        pid, exited = loop.create_future(), loop.create_future()
        self._pids[self._next], self._exits[self._next] = pid, exited
        lines = self._lines[self._next] = _Lines()
        request = {"id": self._next, "script": str(script), "argv": list(args), "env": env}
        self._proc.stdin.write(json.dumps(request).encode() + b"\n")
        await self._proc.stdin.drain()
        return ForkedBot(await asyncio.wait_for(pid, 60), lines, exited)


if __name__ == "__main__":
    serve()
