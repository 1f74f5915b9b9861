"""Call caps shared by a fleet through Redis: one global cap and per-caller limits, leased per call.

Needs the ``redis`` package (the ``[fleet]`` extra). Every process behind the load balancer points at the
same Redis and admits a call only if the fleet has room::

    limits = RedisCallLimiter.from_url(REDIS_URL, max_calls=50, local=CallLimiter(20), max_calls_per_caller=2)
    admission = await limits.try_acquire(call_id)          # before accepting the media stream
    if not admission:
        await websocket.close(code=1013)                   # admission.reason: "at_cap", "at_process_cap"
        return
    try:
        if not await limits.try_add_caller(call_id, caller):   # once ``start`` named the caller
            ...refuse ("caller_limit")...
        ...run the call...
    finally:
        await limits.release(call_id)

How it is kept honest: Redis holds a sorted set of call ids scored by the time their lease runs out (and
one per caller, keyed by a hash of the number, never the number itself). A Lua script drops expired
leases, checks the caps and adds the call atomically, on Redis's own clock, so machines with skewed
clocks agree. While a call runs its lease is renewed every ``lease_s / 3``: a process that dies leaks its
slots for at most ``lease_s``.

When Redis does not answer (connection refused, or no reply within ``timeout_s``) the process serves on
its local cap (the ``CallLimiter`` it was given, and a per-process :class:`CallerLimiter`), logs one
WARNING, and tries Redis again every ``retry_s``; it logs once more when Redis is back, and then
re-registers the calls it holds. Calls in progress are never cut by any of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from loguru import logger

from .limits import CallerLimiter, CallLimiter

__all__ = ["Admission", "LimitMode", "LocalCallLimits", "RedisCallLimiter"]

LimitMode = Literal["process", "shared", "local_fallback"]
"""Which cap admits calls: ``process`` (no Redis configured), ``shared`` (Redis answers), or
``local_fallback`` (Redis is configured but unreachable: the per-process cap)."""

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return {1, n}
end
if n >= tonumber(ARGV[2]) then
  return {0, n}
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
return {1, n + 1}
"""
"""KEYS: the calls set; ARGV: call id, cap, lease ms. Returns ``{admitted, calls now}``."""

_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  redis.call('ZADD', KEYS[i], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], lease)
end
return redis.call('ZCARD', KEYS[1])
"""
"""KEYS: the sets a held call is in; ARGV: call id, lease ms. Adds it back if Redis lost it (a restart)."""

_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""


@dataclass(frozen=True)
class Admission:
    """The answer to a request for a call slot (true when admitted).

    Parameters:
        ok: Whether the call may go on.
        reason: ``"admitted"``, ``"at_cap"`` (the global cap, or the only cap without Redis),
            ``"at_process_cap"`` (this process's own cap under a global one) or ``"caller_limit"``.
        mode: Which cap decided (see :data:`LimitMode`).
    """

    ok: bool
    reason: str
    mode: LimitMode

    def __bool__(self) -> bool:
        return self.ok


class LocalCallLimits:
    """One process's caps (``MAX_CALLS`` and per caller) behind the same async interface as the shared one.

    Parameters:
        calls: The process's call cap.
        per_caller: The per-caller cap (``None``: no limit per caller).
    """

    mode: LimitMode = "process"

    def __init__(self, calls: CallLimiter, per_caller: CallerLimiter | None = None) -> None:
        """Initialize with the process's limiters."""
        self.calls = calls
        self.per_caller = per_caller
        self._callers: dict[str, str] = {}  # call id -> caller holding a per-caller slot

    def __repr__(self) -> str:
        return f"LocalCallLimits({self.calls!r}, {self.per_caller!r})"

    @property
    def active(self) -> int:
        """Calls this process runs now."""
        return self.calls.active

    @property
    def max_calls(self) -> int:
        """This process's cap."""
        return self.calls.max_calls

    @property
    def full(self) -> bool:
        """Whether a new call would be refused."""
        return self.calls.full

    async def count(self) -> int:
        """Calls running now (nothing to refresh locally)."""
        return self.calls.active

    async def caller_active(self, caller: str) -> int:
        """Calls ``caller`` has running in this process."""
        return 0 if self.per_caller is None else self.per_caller.active(caller)

    async def try_acquire(self, call_id: str) -> Admission:
        """Take a slot for ``call_id`` under the process cap."""
        del call_id  # slots are counted, not named, in one process
        if not self.calls.try_acquire():
            return Admission(False, "at_cap", self.mode)
        return Admission(True, "admitted", self.mode)

    async def try_add_caller(self, call_id: str, caller: str) -> Admission:
        """Count the admitted call ``call_id`` against ``caller``'s limit (refused: ``caller_limit``)."""
        return self._add_local_caller(call_id, caller)

    def _add_local_caller(self, call_id: str, caller: str) -> Admission:
        if self.per_caller is None or not caller:
            return Admission(True, "admitted", self.mode)
        if not self.per_caller.try_acquire(caller):
            return Admission(False, "caller_limit", self.mode)
        self._callers[call_id] = caller
        return Admission(True, "admitted", self.mode)

    async def release(self, call_id: str) -> None:
        """Give back every slot ``call_id`` holds (once per admitted call)."""
        self._release_local(call_id)
        self.calls.release()

    def _release_local(self, call_id: str) -> None:
        caller = self._callers.pop(call_id, None)
        if caller is not None and self.per_caller is not None:
            self.per_caller.release(caller)

    async def aclose(self) -> None:
        """Nothing to close locally."""


@dataclass
class _Held:
    shared: bool  # counted in Redis (False: admitted on the local cap while Redis was away)
    caller_key: str | None = None  # its per-caller set in Redis


class RedisCallLimiter(LocalCallLimits):
    """A fleet-wide call cap and per-caller limit in Redis, with this process's own cap underneath.

    Parameters:
        client: A ``redis.asyncio.Redis`` client (:meth:`from_url` builds one with short timeouts).
        max_calls: The global cap (every process of the fleet must use the same number and ``prefix``).
        local: This process's cap, applied always and alone while Redis is unreachable.
        max_calls_per_caller: Calls one caller may have running across the fleet (``None``: no limit).
        lease_s: How long a slot outlives its process if that process dies.
        retry_s: While Redis is unreachable, how often to try it again.
        timeout_s: How long one Redis command may take before Redis counts as unreachable.
        prefix: The key prefix (a hash tag, so a Redis Cluster keeps every key on one slot).
        on_mode: Called with the new :data:`LimitMode` when it changes (e.g. a metrics gauge).
        clock: Monotonic seconds (for the retry timer; leases use Redis's own clock).
    """

    def __init__(
        self,
        client: Any,
        max_calls: int,
        *,
        local: CallLimiter,
        max_calls_per_caller: int | None = None,
        lease_s: float = 30.0,
        retry_s: float = 2.0,
        timeout_s: float = 0.5,
        prefix: str = "pipecat_twilio",
        on_mode: Callable[[LimitMode], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Initialize the limiter (no Redis command is sent until the first call).

        Raises:
            ValueError: If a cap or a time is not positive.
        """
        for name, value in (("max_calls", max_calls), ("lease_s", lease_s), ("retry_s", retry_s)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        if max_calls_per_caller is not None and max_calls_per_caller <= 0:
            raise ValueError(f"max_calls_per_caller must be positive, got {max_calls_per_caller!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        per_caller = None if max_calls_per_caller is None else CallerLimiter(max_calls_per_caller)
        super().__init__(local, per_caller)
        self._redis = client
        self._max = max_calls
        self._max_per_caller = max_calls_per_caller
        self._lease_ms = int(lease_s * 1000)
        self._lease_s = lease_s
        self._retry_s = retry_s
        self._timeout_s = timeout_s
        self._prefix = prefix
        self._calls_key = f"{{{prefix}}}:calls"
        self._on_mode = on_mode
        self._clock = clock
        self.mode = "shared"
        self._next_try = 0.0
        self._global = 0
        self._held: dict[str, _Held] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._count = client.register_script(_COUNT)

    @classmethod
    def from_url(cls, url: str, max_calls: int, **kwargs: Any) -> RedisCallLimiter:
        """Build one on a new client for ``url`` (``redis://[:password@]host:port/db``).

        Args:
            url: The Redis URL (its password, if any, never reaches a log line).
            max_calls: The global cap.
            **kwargs: The other :class:`RedisCallLimiter` parameters (``local`` is required).

        Returns:
            The limiter.

        Raises:
            ImportError: Naming the ``[fleet]`` extra, if the ``redis`` package is missing.
        """
        try:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
        except ImportError as e:  # pragma: no cover - depends on the installed extras
            raise ImportError(
                "REDIS_URL needs the redis package: pip install 'pipecat-twilio-realtime[fleet]'"
            ) from e
        timeout = float(kwargs.get("timeout_s", 0.5))
        client = aioredis.Redis.from_url(
            # No retries inside the client: an unreachable Redis must cost one timeout, then the local cap.
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        limiter = cls(client, max_calls, **kwargs)
        limiter._where = _where(url)
        return limiter

    _where: str = "redis"

    def __repr__(self) -> str:  # the URL may hold a password: host and port only
        return f"RedisCallLimiter({self._where}, mode={self.mode}, max_calls={self._max})"

    # ------------------------------------------------------------------ what readiness reads

    @property
    def active(self) -> int:
        """Calls running in the fleet at the last look (this process's while Redis is unreachable)."""
        return self._global if self.mode == "shared" else self.calls.active

    @property
    def max_calls(self) -> int:
        """The global cap (this process's cap while Redis is unreachable)."""
        return self._max if self.mode == "shared" else self.calls.max_calls

    @property
    def full(self) -> bool:
        """Whether a new call would be refused at the last look (by the global or the process cap)."""
        return self.calls.full or (self.mode == "shared" and self._global >= self._max)

    @property
    def held(self) -> int:
        """Calls this process holds slots for."""
        return len(self._held)

    async def count(self) -> int:
        """Look up the fleet's live calls now (expired leases dropped) and return :attr:`active`."""
        if await self._reachable():
            with contextlib.suppress(_Unreachable):
                self._global = int(await self._call(self._count(keys=[self._calls_key])))
        return self.active

    async def caller_active(self, caller: str) -> int:
        """Calls ``caller`` has running in the fleet (in this process while Redis is unreachable)."""
        if self._max_per_caller is None or not caller:
            return 0
        if await self._reachable():
            with contextlib.suppress(_Unreachable):
                return int(await self._call(self._count(keys=[self._caller_key(caller)])))
        return await super().caller_active(caller)

    # ------------------------------------------------------------------ slots

    async def try_acquire(self, call_id: str) -> Admission:
        """Take a slot for ``call_id``: this process's cap, then the fleet's (or the process's alone).

        Args:
            call_id: Unique per call while it runs (e.g. a random hex string per media stream).

        Returns:
            The admission; a refused one holds nothing.
        """
        if call_id in self._held:
            raise ValueError(f"{self}: call id {call_id!r} already holds a slot")
        if not self.calls.try_acquire():
            return Admission(False, "at_process_cap" if self.mode == "shared" else "at_cap", self.mode)
        if await self._reachable():
            try:
                admitted, now = await self._call(
                    self._acquire(keys=[self._calls_key], args=[call_id, self._max, self._lease_ms])
                )
            except _Unreachable:
                pass
            else:
                self._global = int(now)
                if not int(admitted):
                    self.calls.release()
                    return Admission(False, "at_cap", "shared")
                self._hold(call_id, _Held(shared=True))
                return Admission(True, "admitted", "shared")
        self._hold(call_id, _Held(shared=False))
        return Admission(True, "admitted", "local_fallback")

    async def try_add_caller(self, call_id: str, caller: str) -> Admission:
        """Count the admitted call ``call_id`` against ``caller``'s fleet-wide limit.

        Args:
            call_id: A call that :meth:`try_acquire` admitted.
            caller: The caller's number (hashed before it reaches Redis).

        Returns:
            The admission (refused: ``caller_limit``; the call's global slot is kept until ``release``).
        """
        held = self._held.get(call_id)
        if held is None:
            raise ValueError(f"{self}: call id {call_id!r} holds no slot")
        if self._max_per_caller is None or not caller:
            return Admission(True, "admitted", self.mode)
        if held.shared and await self._reachable():
            key = self._caller_key(caller)
            try:
                admitted, _ = await self._call(
                    self._acquire(keys=[key], args=[call_id, self._max_per_caller, self._lease_ms])
                )
            except _Unreachable:
                pass
            else:
                if not int(admitted):
                    return Admission(False, "caller_limit", "shared")
                held.caller_key = key
                return Admission(True, "admitted", "shared")
        admission = self._add_local_caller(call_id, caller)
        if admission:
            held.caller_key = self._caller_key(caller)  # added to Redis by the renewal once it is back
        return Admission(admission.ok, admission.reason, "local_fallback")

    async def release(self, call_id: str) -> None:
        """Give back every slot ``call_id`` holds; if Redis cannot be told, its lease runs out instead.

        Raises:
            RuntimeError: If ``call_id`` holds no slot.
        """
        held = self._held.pop(call_id, None)
        if held is None:
            raise RuntimeError(f"{self}: release() of call id {call_id!r} that holds no slot")
        self._release_local(call_id)
        self.calls.release()
        if not self._held and self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None
        if self.mode == "shared":
            keys = [self._calls_key] + ([held.caller_key] if held.caller_key else [])
            with contextlib.suppress(_Unreachable):
                pipe = self._redis.pipeline(transaction=False)
                for key in keys:
                    pipe.zrem(key, call_id)
                await self._call(pipe.execute())

    async def aclose(self) -> None:
        """Stop renewing leases and close the client (at process shutdown)."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        with contextlib.suppress(Exception):
            await self._redis.aclose()

    # ------------------------------------------------------------------ leases and reachability

    def _hold(self, call_id: str, held: _Held) -> None:
        self._held[call_id] = held
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_while_held())

    async def _renew_while_held(self) -> None:
        while self._held:
            # While Redis is away, look again every retry_s, so recovery is noticed during long calls.
            every = self._lease_s / 3
            await asyncio.sleep(every if self.mode == "shared" else min(every, self._retry_s))
            if not await self._reachable():
                continue
            try:
                pipe = self._redis.pipeline(transaction=False)
                held_now = list(self._held.items())
                for call_id, held in held_now:
                    keys = [self._calls_key] + ([held.caller_key] if held.caller_key else [])
                    await self._renew(keys=keys, args=[call_id, self._lease_ms], client=pipe)  # queued
                counts = await self._call(pipe.execute())
            except _Unreachable:
                continue
            for _, held in held_now:
                held.shared = True  # a call admitted during an outage is counted in the fleet again
            if counts:
                self._global = int(counts[-1])

    def _caller_key(self, caller: str) -> str:
        digest = hashlib.sha256(f"{self._prefix}:{caller}".encode()).hexdigest()[:32]
        return f"{{{self._prefix}}}:caller:{digest}"

    async def _reachable(self) -> bool:
        """Whether to ask Redis now: always in shared mode, every ``retry_s`` while it is away."""
        return self.mode == "shared" or self._clock() >= self._next_try

    async def _call(self, awaitable: Any) -> Any:
        """Await one Redis round trip; a failure switches to the local cap (logged once), a success back."""
        from redis.exceptions import RedisError

        try:
            async with asyncio.timeout(self._timeout_s * 2):
                result = await awaitable
        except (RedisError, OSError, TimeoutError) as e:
            self._next_try = self._clock() + self._retry_s
            if self.mode == "shared":
                self._set_mode("local_fallback")
                logger.warning(
                    f"{self}: Redis is unreachable ({type(e).__name__}: {e}): serving on this process's "
                    f"local cap of {self.calls.max_calls} calls (MAX_CALLS_PER_PROCESS) until it answers "
                    f"again; calls in progress go on"
                )
            raise _Unreachable from e
        if self.mode != "shared":
            self._set_mode("shared")
            logger.warning(f"{self}: Redis answers again: the global cap of {self._max} calls applies again")
        return result

    def _set_mode(self, mode: LimitMode) -> None:
        self.mode = mode
        if self._on_mode is not None:
            self._on_mode(mode)


class _Unreachable(Exception):
    """Redis did not answer (the cause is chained and was logged)."""


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or '?'}:{parts.port or 6379}"
