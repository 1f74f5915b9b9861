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

__all__ = ["CallLimitReached", "CallLimiter", "CallerLimiter", "SlotCounter", "watch_inactivity"]


class SlotCounter(Protocol):
    """What readiness reads from a call cap: a :class:`CallLimiter`, or the fleet-wide one."""

    @property
    def active(self) -> int:
        """Calls running now (under this cap)."""
        ...

    @property
    def max_calls(self) -> int:
        """The cap."""
        ...

    @property
    def full(self) -> bool:
        """Whether a new call would be refused now."""
        ...


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

    @property
    def full(self) -> bool:
        """Whether the cap is reached (``try_acquire`` would refuse)."""
        return self._active >= self._max

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


class CallerLimiter:
    """A per-process cap on concurrent calls from one caller (the webhook's ``From``), one event loop.

    Callers are kept only while they have a call running, so the table never grows past the live calls.
    """

    def __init__(self, max_per_caller: int) -> None:
        """Initialize the limiter.

        Args:
            max_per_caller: The most calls one caller may have running at once.

        Raises:
            ValueError: If ``max_per_caller`` is not positive.
        """
        if max_per_caller <= 0:
            raise ValueError(f"max_per_caller must be positive, got {max_per_caller!r}")
        self._max = max_per_caller
        self._active: dict[str, int] = {}

    def __repr__(self) -> str:  # caller numbers are personal data: counts only
        return f"CallerLimiter(callers={len(self._active)}, max_per_caller={self._max})"

    @property
    def max_per_caller(self) -> int:
        """The cap per caller."""
        return self._max

    def active(self, caller: str) -> int:
        """Calls ``caller`` has running now."""
        return self._active.get(caller, 0)

    def try_acquire(self, caller: str) -> bool:
        """Take a slot for ``caller``; ``False`` (nothing taken) when the caller is at the cap."""
        held = self._active.get(caller, 0)
        if held >= self._max:
            return False
        self._active[caller] = held + 1
        return True

    def release(self, caller: str) -> None:
        """Give ``caller``'s slot back (once per successful ``try_acquire``).

        Raises:
            RuntimeError: If ``caller`` holds no slot.
        """
        held = self._active.get(caller, 0)
        if held <= 0:
            raise RuntimeError("CallerLimiter.release() without a slot held for that caller")
        if held == 1:
            del self._active[caller]
        else:
            self._active[caller] = held - 1


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
