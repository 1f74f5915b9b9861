"""Bounds a public phone bot needs: concurrent calls per process, and calls that went silent.

``CallLimiter`` caps the calls one process runs at once (each costs a billable OpenAI session);
``watch_inactivity`` ends a call whose Twilio media stopped arriving (a stalled or abandoned socket
would otherwise hold a session open until OpenAI's 60-minute limit)::

    limiter = CallLimiter(20)
    if not limiter.try_acquire():
        await websocket.close(code=1013)  # try again later
        return
    try:
        watchdog = asyncio.create_task(watch_inactivity(serializer, 30, on_idle))
        ...run the pipeline...
    finally:
        watchdog.cancel()
        limiter.release()
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = ["CallLimitReached", "CallLimiter", "watch_inactivity"]


class CallLimitReached(RuntimeError):
    """Raised by ``async with limiter`` when the process already runs ``max_calls`` calls."""


class CallLimiter:
    """A per-process cap on concurrent calls (not thread-safe: one event loop)."""

    def __init__(self, max_calls: int) -> None:
        """Initialize the limiter.

        Args:
            max_calls: The most calls run at once.

        Raises:
            ValueError: If ``max_calls`` is not positive.
        """
        if max_calls <= 0:
            raise ValueError(f"max_calls must be positive, got {max_calls!r}")
        self._max = max_calls
        self._active = 0

    def __repr__(self) -> str:
        return f"CallLimiter(active={self._active}, max_calls={self._max})"

    @property
    def active(self) -> int:
        """Calls running now."""
        return self._active

    @property
    def max_calls(self) -> int:
        """The cap."""
        return self._max

    def try_acquire(self) -> bool:
        """Take a slot; ``False`` (nothing taken) when the cap is reached."""
        if self._active >= self._max:
            return False
        self._active += 1
        return True

    def release(self) -> None:
        """Give a slot back (once per successful ``try_acquire``).

        Raises:
            RuntimeError: If no slot is held.
        """
        if self._active <= 0:
            raise RuntimeError("CallLimiter.release() without a slot held")
        self._active -= 1

    async def __aenter__(self) -> CallLimiter:
        if not self.try_acquire():
            raise CallLimitReached(f"{self._max} calls already running")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()


class ActivitySource(Protocol):
    """What :func:`watch_inactivity` reads (a ``TwilioMediaStreamSerializer`` is one)."""

    @property
    def last_activity_monotonic(self) -> float:
        """The clock's value at the last media (or start)."""
        ...

    @property
    def clock(self) -> Callable[[], float]:
        """The monotonic clock the activity times come from."""
        ...


async def watch_inactivity(
    source: ActivitySource,
    limit_s: float,
    on_idle: Callable[[str], Awaitable[None]],
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> str:
    """Wait until no media has arrived for ``limit_s``, then call ``on_idle(reason)`` once and return.

    Run it as a task next to the pipeline and cancel it when the call ends. Times are read from the
    source's own clock, so a test passes a fake clock to the serializer and a matching ``sleep``.

    Args:
        source: The call's serializer (anything with ``last_activity_monotonic`` and ``clock``).
        limit_s: Seconds of silence from Twilio after which the call is ended.
        on_idle: Called once with a reason (e.g. to cancel the worker and hang up).
        sleep: Waits a number of seconds of the source clock's time.

    Returns:
        The reason passed to ``on_idle``.

    Raises:
        ValueError: If ``limit_s`` is not positive.
    """
    if not limit_s > 0:
        raise ValueError(f"limit_s must be positive, got {limit_s!r}")
    while True:
        idle = source.clock() - source.last_activity_monotonic
        if idle >= limit_s:
            reason = f"no media from Twilio for {idle:.1f} s (limit {limit_s:g} s)"
            await on_idle(reason)
            return reason
        await sleep(limit_s - idle)
