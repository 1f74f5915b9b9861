"""``PlaybackTracker``: what the caller has heard of each reply, from Twilio mark echoes and the clock."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from .. import g711
from ..twilio.frames import TwilioMarkEchoFrame

__all__ = ["PlaybackTracker"]

_MARK_PREFIX = "ptr:"
_CLEAR = "clear"


class PlaybackTracker:
    """Maps Twilio mark echoes to how many μ-law bytes of each reply item the caller has heard.

    The service asks for a mark named ``ptr:<item>/start`` before an item's first audio and
    ``ptr:<item>/<bytes>`` as its audio goes out (every ``mark_interval_ms``). The serializer stamps each
    mark with its own count of μ-law bytes sent, so a played echo says exactly where playback was:
    ``stamp(mark) - stamp(start mark)``. Marks flushed by a ``clear`` do not count.

    Between echoes the position is interpolated: Twilio plays its buffer at the line rate, 8 μ-law bytes
    per millisecond, so ``heard(now) = heard at the latest played echo + 8 * ms since it arrived``. That
    estimate is capped at the earliest mark still pending (the caller has not reached it: the buffer may
    have run dry before it) and, by the service, at the audio produced. The marks therefore only bound the
    drift of the estimate; they no longer set its precision, so they can be sparse (one every 500 ms)
    without truncating a barge-in less precisely than one every 100 ms did.

    That estimate runs on the bot's clock, so it lags by the echo's trip back and misses the ``clear``'s
    trip out: on a real network, tens to hundreds of ms. A barge-in is therefore measured on Twilio's own
    clock instead. Each echo carries ``stream_ms``, the timestamp of the caller audio Twilio sent just
    before it (the same ordered websocket, so network delay does not move it). Just before the ``clear``
    the service asks for a mark, ``ptr:<item>/clear`` (:meth:`clear_label`): Twilio echoes it when it
    empties its buffer (or at once if it was already empty), i.e. at the moment the caller stopped
    hearing. Then ``heard = position of the latest echo before it + 8 * (its stream_ms - theirs)``, capped
    at the marks the clear flushed and at what was sent (:meth:`heard_at_clear`): exact to a 20 ms frame
    whatever the network does.
    """

    KEEP_ITEMS = 8
    """Recent reply items remembered (a barge-in truncates the current one; older ones are done)."""

    def __init__(self, keep_items: int = KEEP_ITEMS, clock: Callable[[], float] = time.monotonic) -> None:
        """Initialize the tracker.

        Args:
            keep_items: How many recent items to remember.
            clock: Monotonic seconds (inject one in tests).
        """
        self._keep = keep_items
        self._clock = clock
        self._start: dict[str, int] = {}
        self._heard: dict[str, int] = {}
        self._echoed_at: dict[str, float | None] = {}  # None: playback of the item stopped (flushed)
        self._pending: dict[str, deque[int]] = {}
        # Twilio's clock: (stream_ms, position) of the latest echo known played, per item, and the echoes
        # the serializer called flushed since (some may have played while the clear was on its way).
        self._stream_start: dict[str, int] = {}
        self._played_on_stream: dict[str, tuple[int, int]] = {}
        self._flushed_on_stream: dict[str, list[tuple[int, int]]] = {}
        self._heard_at_clear: dict[str, int] = {}

    @staticmethod
    def start_label(item_id: str) -> str:
        """Label of the mark sent before an item's first audio."""
        return f"{_MARK_PREFIX}{item_id}/start"

    @staticmethod
    def clear_label(item_id: str) -> str:
        """Label of the mark sent just before a barge-in's ``clear``: its echo times the clear."""
        return f"{_MARK_PREFIX}{item_id}/{_CLEAR}"

    @staticmethod
    def progress_label(item_id: str, produced: int) -> str:
        """Label of a mark sent after ``produced`` μ-law bytes of an item."""
        return f"{_MARK_PREFIX}{item_id}/{produced}"

    def requested(self, item_id: str, produced: int) -> None:
        """Note a progress mark asked for after ``produced`` bytes: until it echoes, the caller is before it.

        Args:
            item_id: The reply item.
            produced: μ-law bytes of the item produced before the mark (its label's count).
        """
        self._pending.setdefault(item_id, deque()).append(produced)

    def on_echo(self, echo: TwilioMarkEchoFrame) -> bool:
        """Record one mark echo.

        Args:
            echo: The echo from the serializer.

        Returns:
            Whether the echo was one of ours.
        """
        if not echo.label.startswith(_MARK_PREFIX):
            return False
        item_id, _, kind = echo.label[len(_MARK_PREFIX) :].rpartition("/")
        self._on_stream(item_id, kind, echo)
        if kind == _CLEAR:
            return True
        if not echo.played:  # a clear flushed it: the caller's position no longer moves
            if item_id in self._echoed_at:
                self._echoed_at[item_id] = None
            self._pending.pop(item_id, None)
            return True
        if echo.ulaw_bytes_sent is None:
            return True
        if kind == "start":
            self._start[item_id] = echo.ulaw_bytes_sent
            self._echoed_at[item_id] = self._clock()
            while len(self._start) > self._keep:
                oldest = next(iter(self._start))
                for table in (self._start, self._heard, self._echoed_at, self._pending):
                    table.pop(oldest, None)
        elif item_id in self._start:
            heard = echo.ulaw_bytes_sent - self._start[item_id]
            if heard >= self._heard.get(item_id, 0):
                self._heard[item_id] = heard
                self._echoed_at[item_id] = self._clock()
            pending = self._pending.get(item_id)
            produced = int(kind) if kind.isdigit() else None
            while pending and produced is not None and pending[0] <= produced:
                pending.popleft()
        return True

    def acknowledged_bytes(self, item_id: str) -> int:
        """μ-law bytes of ``item_id`` that a played mark echo confirmed (0 when none)."""
        return self._heard.get(item_id, 0)

    def heard_bytes(self, item_id: str) -> int:
        """μ-law bytes of ``item_id`` the caller has heard by now: the latest echo plus the time since it.

        Capped at the earliest mark still pending for the item; 0 before the item's start mark echoed.
        Once a barge-in's clear mark has echoed, what :meth:`heard_at_clear` settled (playback ended there,
        and it counts echoes that played while the clear was on its way).
        """
        settled = self._heard_at_clear.get(item_id)
        if settled is not None:
            return settled
        heard = self._heard.get(item_id, 0)
        echoed_at = self._echoed_at.get(item_id)
        if echoed_at is None:
            return heard
        estimate = heard + round((self._clock() - echoed_at) * g711.SAMPLE_RATE)
        pending = self._pending.get(item_id)
        if pending:
            estimate = min(estimate, pending[0])
        return max(heard, estimate)

    # ------------------------------------------------------------------ on Twilio's clock

    def _on_stream(self, item_id: str, kind: str, echo: TwilioMarkEchoFrame) -> None:
        """Place one echo on Twilio's stream clock; the clear mark's echo settles what was heard."""
        if echo.stream_ms is None or echo.ulaw_bytes_sent is None:
            return
        if kind == "start":
            self._stream_start[item_id] = echo.ulaw_bytes_sent  # positions of this item count from here
            while len(self._stream_start) > self._keep:
                oldest = next(iter(self._stream_start))
                for table in (self._stream_start, self._played_on_stream, self._flushed_on_stream):
                    table.pop(oldest, None)
                self._heard_at_clear.pop(oldest, None)
            if echo.played:
                self._played_on_stream[item_id] = (echo.stream_ms, 0)
            else:  # flushed, or played while a clear was on its way: told apart by the clear's echo
                self._flushed_on_stream.setdefault(item_id, []).append((echo.stream_ms, 0))
            return
        start = self._stream_start.get(item_id)
        if start is None:
            return
        position = echo.ulaw_bytes_sent - start
        if kind == _CLEAR:
            self._heard_at_clear[item_id] = self._settle(item_id, echo.stream_ms, position)
        elif echo.played:
            latest = self._played_on_stream.get(item_id)
            if latest is None or (echo.stream_ms, position) >= latest:
                self._played_on_stream[item_id] = (echo.stream_ms, position)
        else:
            self._flushed_on_stream.setdefault(item_id, []).append((echo.stream_ms, position))

    def _settle(self, item_id: str, cleared_ms: int, sent: int) -> int:
        """What was heard when Twilio emptied its buffer at ``cleared_ms`` (``sent``: bytes it had)."""
        flushed = self._flushed_on_stream.pop(item_id, [])
        # An echo from before the clear's frame was played then (it was on its way back as the clear
        # went out); the ones from the clear's own frame are what the clear flushed.
        anchors = [a for a in flushed if a[0] < cleared_ms]
        if item_id in self._played_on_stream:
            anchors.append(self._played_on_stream[item_id])
        if not anchors:
            return 0  # not even the start mark had played
        at_ms, position = max(anchors)
        caps = [p for ms, p in flushed if ms >= cleared_ms and p >= position]
        heard = position + (cleared_ms - at_ms) * g711.SAMPLE_RATE // 1000
        return max(position, min([heard, sent, *caps]))

    def heard_at_clear(self, item_id: str) -> int | None:
        """μ-law bytes of ``item_id`` heard when a barge-in's ``clear`` took effect, once its mark echoed.

        ``None`` until the echo of :meth:`clear_label` has come back (with Twilio's stream clock on it).
        """
        return self._heard_at_clear.get(item_id)

    def times_on_stream(self, item_id: str) -> bool:
        """Whether echoes of ``item_id`` carry Twilio's stream clock (so a clear can be timed by it)."""
        return item_id in self._played_on_stream or item_id in self._flushed_on_stream
