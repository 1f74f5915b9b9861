"""Running the bot as a service: live calls, readiness, and a graceful drain on SIGTERM.

uvicorn's own SIGTERM handling does not drain calls: its ``Server.shutdown`` closes every open websocket
with code 1012 at once (``connection.shutdown()``), and only then waits for tasks. So the app takes
SIGTERM/SIGINT itself while uvicorn serves (:meth:`CallService.install_signal_handlers`, from the app's
lifespan, i.e. inside uvicorn's own ``capture_signals``):

1. the first signal flips :attr:`CallService.draining`: ``/readyz`` answers 503, a webhook gets the
   turn-away TwiML, while live calls go on (a media stream that still arrives is served: its webhook was
   answered before the drain, and Twilio is already connecting the caller);
2. live calls get up to ``drain_timeout_secs`` to end; a second SIGINT (Ctrl+C twice) stops waiting;
3. the calls still running are ended through :attr:`CallService.on_drain_limit` (by default
   :meth:`LiveCall.end`; replace it to say goodbye first) and get ``end_grace_secs`` to finish;
4. uvicorn is told to exit: its server's ``should_exit`` is set, as its own handler would, but without
   recording the signal (uvicorn re-raises a recorded signal at exit, which turns a clean drain into
   status -15). The process exits 0.

In ``--workers`` mode uvicorn's parent sends SIGTERM to each worker process, and each drains on its own.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from loguru import logger

from pipecat_twilio_realtime.twilio.limits import SlotCounter

CALLER_HUNG_UP = "caller_hung_up"
BOT_HUNG_UP = "bot_hung_up"
TIMED_OUT = "timed_out"
DRAIN_LIMIT = "drain_limit"
FAILED = "failed"

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(eq=False)
class LiveCall:
    """One media stream this process is serving, from ``accept()`` to its end.

    Parameters:
        started_at: ``time.monotonic()`` when the stream was accepted.
        stream_sid: The stream SID, once ``start`` came (from the wire: quote it in logs).
        worker: The call's ``PipelineWorker`` once it runs (e.g. to queue a goodbye before ending).
        outcome: How the call ended (first reason wins), one of ``pipecat_twilio_realtime.observe.metrics``'
            ``CALL_OUTCOMES``; ``None`` while nothing has ended it.
    """

    started_at: float = field(default_factory=time.monotonic)
    stream_sid: str | None = None
    worker: Any = None
    outcome: str | None = None
    _ender: Callable[[str], Awaitable[None]] | None = field(default=None, repr=False)

    def set_outcome(self, outcome: str) -> None:
        """Record how the call ended, unless something already did."""
        if self.outcome is None:
            self.outcome = outcome

    def set_ender(self, ender: Callable[[str], Awaitable[None]]) -> None:
        """Say how to end this call (the pipeline sets it once the worker exists)."""
        self._ender = ender

    async def end(self, reason: str, outcome: str = DRAIN_LIMIT) -> bool:
        """End the call now (cancel its worker: the socket closes, the bot hangs up when it may).

        Args:
            reason: Why, for the log line.
            outcome: The outcome to record.

        Returns:
            ``False`` if the call has no pipeline yet (it ends when its ``start`` wait does).
        """
        self.set_outcome(outcome)
        if self._ender is None:
            return False
        await self._ender(reason)
        return True


class CallService:
    """A process's live calls, its readiness, and its drain.

    Parameters:
        limiter: The call cap readiness follows: the process's ``CallLimiter``, or with ``REDIS_URL`` the
            fleet's ``RedisCallLimiter`` (refresh its count with ``await limiter.count()`` before asking).
        drain_timeout_secs: How long live calls may go on after SIGTERM.
        end_grace_secs: How long calls ended at the drain limit get to finish (the goodbye hook included).
        on_draining: Called with ``True`` when the drain starts (e.g. a metrics gauge).
    """

    def __init__(
        self,
        limiter: SlotCounter,
        *,
        drain_timeout_secs: float = 60.0,
        end_grace_secs: float = 10.0,
        on_draining: Callable[[bool], None] | None = None,
    ) -> None:
        """Initialize the service state (not draining, no calls)."""
        self.limiter = limiter
        self.drain_timeout_secs = drain_timeout_secs
        self.end_grace_secs = end_grace_secs
        self.calls: set[LiveCall] = set()
        self.draining = False
        self.on_drain_limit: Callable[[LiveCall], Awaitable[object]] = self._end_at_limit
        """Called for each call still running at the drain limit. The default ends it at once; a bot
        that wants to apologise first replaces it (queue the words on ``call.worker``, wait for them,
        then ``await call.end(...)``), within ``end_grace_secs``."""
        self._on_draining = on_draining
        self._none_left = asyncio.Event()
        self._none_left.set()
        self._hurry = asyncio.Event()
        self._drain_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, Any] = {}

    # ------------------------------------------------------------------ calls

    def add(self, call: LiveCall) -> None:
        """Track a call that was accepted."""
        self.calls.add(call)
        self._none_left.clear()

    def remove(self, call: LiveCall) -> None:
        """Stop tracking a call that ended."""
        self.calls.discard(call)
        if not self.calls:
            self._none_left.set()

    def readiness(self) -> tuple[bool, str]:
        """Whether this process takes new calls, and why not.

        Returns:
            ``(ready, reason)``: ``reason`` is ``"ready"``, ``"draining"`` or ``"at_cap"``.
        """
        if self.draining:
            return False, "draining"
        if self.limiter.full:
            return False, "at_cap"
        return True, "ready"

    # ------------------------------------------------------------------ drain

    async def drain(self) -> float:
        """Stop taking calls, let live ones finish up to the limit, then end the rest.

        Returns:
            Seconds the drain took.
        """
        began = time.monotonic()
        if not self.draining:
            self.draining = True
            if self._on_draining is not None:
                self._on_draining(True)
        logger.info(
            f"draining: no new calls; {len(self.calls)} live call(s) get up to {self.drain_timeout_secs:g} s"
        )
        none_left = asyncio.create_task(self._none_left.wait())
        hurry = asyncio.create_task(self._hurry.wait())
        try:
            await asyncio.wait(
                {none_left, hurry}, timeout=self.drain_timeout_secs, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            none_left.cancel()
            hurry.cancel()
        if self.calls:
            logger.warning(f"drain limit: ending {len(self.calls)} call(s) still running")
            ending = [asyncio.create_task(_bounded(self.on_drain_limit(call))) for call in list(self.calls)]
            try:
                async with asyncio.timeout(self.end_grace_secs):
                    await asyncio.gather(*ending)
                    await self._none_left.wait()
            except TimeoutError:
                logger.error(f"{len(self.calls)} call(s) did not end within {self.end_grace_secs:g} s")
        took = time.monotonic() - began
        logger.info(f"drained in {took:.2f} s")
        return took

    @staticmethod
    async def _end_at_limit(call: LiveCall) -> None:
        await call.end("the process is shutting down (drain limit reached)")

    # ------------------------------------------------------------------ signals

    def install_signal_handlers(self) -> bool:
        """Take SIGTERM/SIGINT from uvicorn for the drain (call it from the app's lifespan startup).

        Returns:
            ``False`` (nothing installed) off the main thread, where signals cannot be handled.
        """
        if threading.current_thread() is not threading.main_thread():
            return False
        self._loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            self._previous[sig] = signal.signal(sig, self._on_signal)
        return True

    def restore_signal_handlers(self) -> None:
        """Give the signals back to whoever had them (uvicorn) (call it from the lifespan shutdown)."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._signalled, sig)

    def _signalled(self, sig: int) -> None:
        name = signal.Signals(sig).name
        if self._drain_task is None:
            logger.info(f"{name}: draining before exit")
            self._drain_task = asyncio.get_running_loop().create_task(self._drain_then_exit())
        elif sig == signal.SIGINT:
            logger.warning(f"{name} again: ending the live calls now")
            self._hurry.set()
        else:
            logger.info(f"{name} again: already draining")

    async def _drain_then_exit(self) -> None:
        try:
            await self.drain()
        finally:
            self._stop_server()

    def _stop_server(self) -> None:
        handler = self._previous.get(signal.SIGTERM)
        server = getattr(handler, "__self__", None)
        if server is not None and hasattr(server, "should_exit"):
            # uvicorn's handler is its Server.handle_exit: do what it does, minus recording the signal.
            server.should_exit = True
        elif callable(handler):
            handler(signal.SIGTERM, None)
        else:
            raise SystemExit(0)


async def _bounded(step: Awaitable[object]) -> None:
    try:
        await step
    except Exception as e:  # one call's goodbye must not keep the others from ending
        logger.error(f"ending a call at the drain limit failed: {type(e).__name__}: {e}")
