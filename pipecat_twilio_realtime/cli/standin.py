"""``pipecat-twilio-standin``: the OpenAI Realtime stand-in alone, to test your own bot offline.

    pipecat-twilio-standin --port 8800
    # prints: OPENAI_REALTIME_URL=ws://127.0.0.1:8800/v1/realtime

Point your bot's Realtime URL there (any API key is accepted), start the bot, then call it with
``pipecat-twilio-simulate --url ws://127.0.0.1:8765/ws``. It serves until Ctrl-C or SIGTERM (exit status 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

from loguru import logger

from ..testing import RealtimeStandIn

__all__ = ["main", "serve_standin"]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.close()


async def _forward(port: int, target: int) -> asyncio.Server:
    """Accept on 127.0.0.1:``port`` and relay every connection, byte for byte, to 127.0.0.1:``target``.

    The stand-in always binds a free port of its own; this makes it reachable on the port asked for.
    """

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    return await asyncio.start_server(relay, "127.0.0.1", port)


async def serve_standin(port: int, *, speed: float | None = None, stop: asyncio.Event | None = None) -> None:
    """Run a :class:`~pipecat_twilio_realtime.testing.RealtimeStandIn` on 127.0.0.1 until ``stop`` is set.

    Prints the ``OPENAI_REALTIME_URL=...`` line to use, then one line per session.

    Args:
        port: The port to listen on (0: a free one).
        speed: Steady pacing at this many times real time (1.0: exactly real time); ``None`` (the
            default): paced like a model (bursts, 4x real time on average, first delta after 350 ms).
        stop: Set it to stop; by default SIGINT and SIGTERM do.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows / not main thread
            loop.add_signal_handler(sig, stop.set)
    async with RealtimeStandIn(speed=speed) as standin:
        url = standin.url
        forwarder = None
        if port:
            parts = urlsplit(url)
            forwarder = await _forward(port, parts.port or 0)
            url = url.replace(f":{parts.port}/", f":{port}/", 1)
        print(f"OPENAI_REALTIME_URL={url}", flush=True)
        print(
            "The OpenAI Realtime stand-in is listening (any API key is accepted); Ctrl-C stops it.",
            flush=True,
        )
        sessions = 0
        waiter = asyncio.create_task(stop.wait())
        while not stop.is_set():
            await asyncio.wait({waiter}, timeout=0.5)
            if len(standin.connections) > sessions:
                sessions = len(standin.connections)
                print(f"session {sessions} opened ({len(standin.errors)} error event(s) so far)", flush=True)
        if forwarder is not None:
            forwarder.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments (defaults to ``sys.argv[1:]``).

    Returns:
        0 when stopped by Ctrl-C or SIGTERM, 2 when the port cannot be used.
    """
    parser = argparse.ArgumentParser(
        prog="pipecat-twilio-standin",
        description="Run the local OpenAI Realtime stand-in, to test your own bot offline.",
    )
    parser.add_argument("--port", type=int, default=8800, help="port on 127.0.0.1 (default: %(default)s)")
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help="steady reply pacing at this many times real time, 1 = exactly real time "
        "(default: paced like a model: bursts, 4x real time on average, first delta after 350 ms)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every event")
    args = parser.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="DEBUG" if args.verbose else "WARNING")
    try:
        asyncio.run(serve_standin(args.port, speed=args.speed))
    except OSError as e:
        print(
            f"pipecat-twilio-standin: error: cannot listen on 127.0.0.1:{args.port} ({e.strerror or e})",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
