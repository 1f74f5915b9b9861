"""The caller's playout: a buffer drained 160 bytes per 20 ms tick, as Twilio plays sent media, counting gaps.

Pure (no I/O, no clock of its own): :meth:`Playout.push` at each arrival, :meth:`Playout.tick` every 20 ms,
:meth:`Playout.clear` on a ``clear``. The simulated caller drives it; tests drive it with literal times.

A **gap** is silence the caller hears inside the bot's speech because audio had not arrived: the silent part
of ticks between two ticks that played bot audio, with no ``clear`` between them, and shorter in all than
``gap_limit_s`` (a longer pause is the end of a reply, not a hole in one: between two replies the caller
speaks and the VAD waits at least 500 ms, so no reply-to-reply pause of our scripts is shorter than 1 s).
A tick that plays a partial frame has a gap for the rest of it if audio follows. A gap is counted when the
audio resumes, so the silence after the last reply is never one.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FRAME_BYTES", "GAP_LIMIT_S", "Gap", "Playout"]

FRAME_BYTES = 160
"""One 20 ms tick of μ-law at 8000 Hz."""
BYTES_PER_S = 8000
GAP_LIMIT_S = 1.0
"""Silence inside a reply up to this long is a gap; longer is a pause between replies."""


@dataclass(frozen=True)
class Gap:
    """Silence the caller heard inside the bot's speech.

    Parameters:
        at: Clock time of the tick where the silence began.
        ulaw_bytes: Its length in μ-law bytes (8 per ms).
    """

    at: float
    ulaw_bytes: int

    @property
    def ms(self) -> float:
        """Its length in ms."""
        return self.ulaw_bytes / 8


class Playout:
    """The playback buffer of one call, with a jitter-buffer delay and a gap counter."""

    def __init__(self, *, delay_s: float = 0.0, gap_limit_s: float = GAP_LIMIT_S) -> None:
        """Prepare an empty buffer.

        Args:
            delay_s: How long received audio waits before it starts playing (again after each underrun or
                ``clear``); 0 plays at the next tick.
            gap_limit_s: The longest silence between two played ticks that still counts as a gap.

        Raises:
            ValueError: If a value is negative.
        """
        if delay_s < 0 or gap_limit_s < 0:
            raise ValueError("playout delay_s and gap_limit_s must not be negative")
        self.buffer = bytearray()
        self.played_total = 0
        self.gaps: list[Gap] = []
        self._delay = delay_s
        self._limit = round(gap_limit_s * BYTES_PER_S)
        self._playing = False
        self._buffering_since = 0.0
        self._in_speech = False  # audio played since the last clear, and no pause past the limit since
        self._hole_at = 0.0
        self._hole = 0

    def push(self, ulaw: bytes, now: float) -> None:
        """Audio arrived.

        Args:
            ulaw: The μ-law bytes.
            now: Clock time of the arrival.
        """
        if not self.buffer and not self._playing:
            self._buffering_since = now
        self.buffer += ulaw

    def clear(self) -> int:
        """Drop the queued audio (a ``clear``): what follows starts a new stretch of speech.

        Returns:
            The bytes dropped.
        """
        dropped = len(self.buffer)
        self.buffer.clear()
        self._playing = False
        self._in_speech = False
        self._hole = 0
        return dropped

    def tick(self, now: float) -> tuple[bytes, Gap | None]:
        """One 20 ms tick of playout.

        Args:
            now: Clock time of the tick.

        Returns:
            The bytes played (up to 160; fewer or none when the buffer ran short) and the gap that ended
            at this tick, if audio resumed after one.
        """
        if not self._playing and self.buffer and now - self._buffering_since >= self._delay:
            self._playing = True
        played = b""
        if self._playing:
            played = bytes(self.buffer[:FRAME_BYTES])
            del self.buffer[:FRAME_BYTES]
            self.played_total += len(played)
            self._playing = bool(self.buffer)  # an underrun refills the jitter buffer first
        gap = None
        if played:
            if self._in_speech and self._hole:
                gap = Gap(self._hole_at, self._hole)
                self.gaps.append(gap)
            self._in_speech = True
            self._hole = 0
        if self._in_speech and len(played) < FRAME_BYTES:
            if not self._hole:
                self._hole_at = now
            self._hole += FRAME_BYTES - len(played)
            if self._hole > self._limit:  # a pause between replies, not a hole in one
                self._in_speech = False
                self._hole = 0
        return played, gap
