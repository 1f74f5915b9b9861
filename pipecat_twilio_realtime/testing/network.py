"""A network between the simulated caller and the bot: delay, jitter, stalls and batching, per direction.

A real call has tens of ms of jitter and the odd 100–300 ms stall between a bot and Twilio's media edge.
This module models that for the simulated call's websocket, one :class:`LinkConfig` per direction
(``to_bot``: caller → bot, ``to_caller``: bot → caller), within TCP's guarantees: a websocket is one ordered
stream, so messages are delayed, held and released in bursts, but never reordered or lost. Each message
gets a release time; release times never go backwards.

The scheduling is pure (:class:`LinkSchedule`: literal send times in, release times out, seeded with
``random.Random``); :class:`ImpairedLink` is the asyncio plumbing that holds each message until its time.

A config reads from a string, as ``--network`` takes it::

    NetworkConfig.parse("jitter=40ms,stall=250ms/5s,delay=20ms,seed=1")
    NetworkConfig.parse("to_caller.jitter=100ms,to_caller.dist=uniform")

A bare key sets both directions; ``to_bot.KEY`` / ``to_caller.KEY`` set one. Keys: ``delay`` (added to every
message), ``jitter`` (the spread of an extra random delay), ``dist`` (``normal``: the extra delay is
``|N(0, jitter)|``, mean 0.8 × jitter; ``uniform``: evenly spread over 0..jitter), ``stall`` (``PAUSE/EVERY``:
nothing gets through for PAUSE, every EVERY from the link's start), ``batch`` (messages are released
together at multiples of this period), ``seed``. Times take a unit: ``ms`` or ``s``.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from loguru import logger

__all__ = ["DIRECTIONS", "ImpairedLink", "LinkConfig", "LinkSchedule", "NetworkConfig"]

DIRECTIONS = ("to_bot", "to_caller")
"""The two directions of the call's websocket: caller → bot and bot → caller."""

Distribution = Literal["normal", "uniform"]


@dataclass(frozen=True)
class LinkConfig:
    """The impairment of one direction. All times in seconds; the default is a perfect link.

    Parameters:
        delay_s: Added to every message.
        jitter_s: Spread of a random extra delay per message (see ``dist``).
        dist: ``"normal"`` (extra delay ``|N(0, jitter_s)|``) or ``"uniform"`` (over ``0..jitter_s``).
        stall_s: Length of each stall: nothing gets through while it lasts.
        stall_every_s: A stall starts at every multiple of this from the link's start (0: no stalls).
        batch_s: Messages are released together at multiples of this period (0: no batching).
    """

    delay_s: float = 0.0
    jitter_s: float = 0.0
    dist: Distribution = "normal"
    stall_s: float = 0.0
    stall_every_s: float = 0.0
    batch_s: float = 0.0

    def __post_init__(self) -> None:
        """Reject settings no network has."""
        for name in ("delay_s", "jitter_s", "stall_s", "stall_every_s", "batch_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"network {name} must be a finite number >= 0, got {value!r}")
        if self.dist not in ("normal", "uniform"):
            raise ValueError(f"network dist must be 'normal' or 'uniform', got {self.dist!r}")
        if self.stall_s and not self.stall_every_s:
            raise ValueError("a network stall needs a period: stall=PAUSE/EVERY, e.g. stall=250ms/5s")
        if self.stall_every_s and self.stall_s >= self.stall_every_s:
            raise ValueError(
                f"a network stall ({self.stall_s * 1000:g} ms) must be shorter than its period "
                f"({self.stall_every_s * 1000:g} ms)"
            )

    @property
    def impaired(self) -> bool:
        """Whether this direction does anything at all."""
        return self != LinkConfig(dist=self.dist)

    def describe(self) -> str:
        """A short text of the settings that are on, e.g. ``jitter 40 ms (normal), stall 250 ms/5 s``."""
        parts = []
        if self.delay_s:
            parts.append(f"delay {_ms(self.delay_s)}")
        if self.jitter_s:
            parts.append(f"jitter {_ms(self.jitter_s)} ({self.dist})")
        if self.stall_s:
            parts.append(f"stall {_ms(self.stall_s)} every {_ms(self.stall_every_s)}")
        if self.batch_s:
            parts.append(f"batch {_ms(self.batch_s)}")
        return ", ".join(parts) or "none"


@dataclass(frozen=True)
class NetworkConfig:
    """The impairment of the simulated call's websocket, per direction, and the seed of its randomness.

    Parameters:
        to_bot: Caller → bot (the caller's audio, mark echoes, DTMF).
        to_caller: Bot → caller (the bot's audio, marks, clears): what decides playout gaps.
        seed: Seed of both directions' jitter (each direction draws from its own ``random.Random``).
    """

    to_bot: LinkConfig = field(default_factory=LinkConfig)
    to_caller: LinkConfig = field(default_factory=LinkConfig)
    seed: int = 0

    @property
    def impaired(self) -> bool:
        """Whether either direction does anything."""
        return self.to_bot.impaired or self.to_caller.impaired

    def describe(self) -> str:
        """A short text of both directions, e.g. ``to caller: jitter 40 ms (normal); to bot: none``."""
        if self.to_bot == self.to_caller:
            return f"{self.to_caller.describe()} (both directions), seed {self.seed}"
        return f"to caller: {self.to_caller.describe()}; to bot: {self.to_bot.describe()}; seed {self.seed}"

    def schedule(self, direction: str) -> LinkSchedule:
        """A fresh, seeded schedule for one direction.

        Args:
            direction: ``"to_bot"`` or ``"to_caller"``.

        Returns:
            The schedule.
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"network direction must be one of {DIRECTIONS}, got {direction!r}")
        config: LinkConfig = getattr(self, direction)
        # A string seed is hashed deterministically (sha512), so the two directions draw independently.
        return LinkSchedule(config, random.Random(f"{self.seed}/{direction}"))

    @classmethod
    def parse(cls, text: str) -> NetworkConfig:
        """Read a config from ``key=value`` pairs separated by commas (see the module docstring).

        Args:
            text: E.g. ``"jitter=40ms,stall=250ms/5s,delay=20ms,seed=1"``; empty or ``"none"``: no impairment.

        Returns:
            The config.

        Raises:
            ValueError: Naming the key or value that is wrong, and what is expected.
        """
        settings: dict[str, dict[str, Any]] = {d: {} for d in DIRECTIONS}
        seed = 0
        for item in (part.strip() for part in text.split(",")):
            if not item or item == "none":
                continue
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not value:
                raise ValueError(f"network setting {item!r}: expected KEY=VALUE, e.g. jitter=40ms")
            prefix, dot, bare = key.rpartition(".")
            if dot and prefix not in DIRECTIONS:
                raise ValueError(f"network setting {item!r}: direction {prefix!r} is not one of {DIRECTIONS}")
            targets = [prefix] if dot else list(DIRECTIONS)
            if bare == "seed":
                if dot:
                    raise ValueError(f"network setting {item!r}: seed applies to both directions")
                try:
                    seed = int(value)
                except ValueError:
                    raise ValueError(f"network setting {item!r}: seed must be an integer") from None
                continue
            parsed = _parse_setting(item, bare, value)
            for direction in targets:
                settings[direction].update(parsed)
        try:
            return cls(
                to_bot=LinkConfig(**settings["to_bot"]),
                to_caller=LinkConfig(**settings["to_caller"]),
                seed=seed,
            )
        except ValueError as e:
            raise ValueError(f"network {text!r}: {e}") from None


KEYS = ("delay", "jitter", "dist", "stall", "batch", "seed")


def _parse_setting(item: str, key: str, value: str) -> dict[str, Any]:
    if key == "dist":
        if value not in ("normal", "uniform"):
            raise ValueError(f"network setting {item!r}: dist must be 'normal' or 'uniform'")
        return {"dist": value}
    if key == "stall":
        pause, slash, every = value.partition("/")
        if not slash:
            raise ValueError(f"network setting {item!r}: expected stall=PAUSE/EVERY, e.g. stall=250ms/5s")
        return {"stall_s": _duration(item, pause), "stall_every_s": _duration(item, every)}
    if key in ("delay", "jitter", "batch"):
        return {f"{key}_s": _duration(item, value)}
    raise ValueError(f"network setting {item!r}: unknown key {key!r}; known keys: {', '.join(KEYS)}")


def _duration(item: str, text: str) -> float:
    text = text.strip()
    for unit, scale in (("ms", 0.001), ("s", 1.0)):
        if text.endswith(unit):
            number = text[: -len(unit)]
            try:
                value = float(number) * scale
            except ValueError:
                break
            if math.isfinite(value) and value >= 0:
                return value
            break
    raise ValueError(
        f"network setting {item!r}: {text!r} is not a duration >= 0 with a unit, e.g. 40ms or 0.25s"
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:g} ms" if seconds < 1 else f"{seconds:g} s"


class LinkSchedule:
    """Pure scheduling of one direction: when each message, sent at a given time, reaches the other end.

    Times are seconds from the link's start (the first stall begins at ``stall_every_s``). Release times
    never decrease: a message held by jitter or a stall holds every message behind it, as TCP does.
    """

    def __init__(self, config: LinkConfig, rng: random.Random | None = None) -> None:
        """Prepare a schedule.

        Args:
            config: The impairment.
            rng: The random source of the jitter (``random.Random(0)`` when omitted).
        """
        self.config = config
        self._rng = rng or random.Random(0)
        self._last = 0.0

    def release_at(self, sent_s: float) -> float:
        """The time a message sent at ``sent_s`` is delivered.

        Args:
            sent_s: Send time, seconds from the link's start (non-decreasing across calls).

        Returns:
            The delivery time: ``sent_s`` plus delay and jitter, pushed past any stall it falls in,
            rounded up to the batch period, and never before the previous message's.
        """
        c = self.config
        at = sent_s + c.delay_s + self._jitter()
        if c.stall_every_s:
            # A stall window is [k*every, k*every + stall) for k >= 1; nothing leaves inside one.
            k = math.floor(at / c.stall_every_s)
            if k >= 1 and at < k * c.stall_every_s + c.stall_s:
                at = k * c.stall_every_s + c.stall_s
        if c.batch_s:
            at = math.ceil(at / c.batch_s - 1e-9) * c.batch_s
        self._last = max(self._last, at)
        return self._last

    def _jitter(self) -> float:
        c = self.config
        if not c.jitter_s:
            return 0.0
        if c.dist == "uniform":
            return self._rng.uniform(0.0, c.jitter_s)
        return abs(self._rng.gauss(0.0, c.jitter_s))


class ImpairedLink:
    """Carries messages of one direction to ``deliver`` at their :class:`LinkSchedule` release times.

    :meth:`put` never blocks; one pump task delivers in order. With an unimpaired config the message is
    delivered at once, inside :meth:`put`.
    """

    def __init__(
        self,
        schedule: LinkSchedule,
        deliver: Callable[[Any], Awaitable[None]],
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        name: str = "link",
    ) -> None:
        """Prepare a link (call :meth:`start` before :meth:`put`).

        Args:
            schedule: When each message is released.
            deliver: Awaited with each message, in order, at its release time.
            clock: Monotonic time source, in seconds.
            sleep: Waits a number of seconds of ``clock`` time.
            name: A name for log lines.
        """
        self._schedule = schedule
        self._deliver = deliver
        self._clock = clock
        self._sleep = sleep
        self._name = name
        self._start = 0.0
        self._queue: asyncio.Queue[tuple[float, Any]] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._direct = not schedule.config.impaired

    def __str__(self) -> str:
        return f"ImpairedLink({self._name}: {self._schedule.config.describe()})"

    def start(self, at: float | None = None) -> None:
        """Start the link's clock (stalls count from here) and its pump task.

        Args:
            at: The start time on ``clock`` (now when omitted).
        """
        self._start = self._clock() if at is None else at
        if not self._direct:
            self._pump = asyncio.create_task(self._run(), name=f"network-{self._name}")

    async def put(self, message: Any) -> None:
        """Send one message into the link.

        Args:
            message: Anything ``deliver`` takes.
        """
        if self._direct:
            await self._deliver(message)
            return
        if self._pump is not None and self._pump.done():
            self._pump.result()  # a delivery failed (e.g. the socket closed): raise it to the sender
        release = self._start + self._schedule.release_at(self._clock() - self._start)
        self._queue.put_nowait((release, message))

    async def drain(self) -> None:
        """Wait until every message put so far has been delivered."""
        if self._pump is None:
            return
        if not self._pump.done():
            await self._queue.join()
        if self._pump.done():
            self._pump.result()  # a delivery failed: raise it here too

    async def close(self) -> None:
        """Stop the pump (messages not yet delivered are dropped)."""
        if self._pump is not None:
            self._pump.cancel()
            try:
                await self._pump
            except asyncio.CancelledError:
                pass
            except Exception as e:  # already reported to the sender by put(); nothing more to do here
                logger.debug(f"{self} stopped: {type(e).__name__}: {e}")

    async def _run(self) -> None:
        while True:
            release, message = await self._queue.get()
            try:
                wait = release - self._clock()
                if wait > 0:
                    await self._sleep(wait)
                await self._deliver(message)
            finally:
                self._queue.task_done()
