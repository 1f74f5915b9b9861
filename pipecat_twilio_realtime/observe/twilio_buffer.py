"""``TwilioBufferEstimator``: Twilio's playout buffer (the lead) and when it ran dry, from mark echoes.

Pure: no I/O, no Pipecat. It is fed literal events with timestamps (seconds on one monotonic clock):
media sent, mark sent (with the μ-law byte count sent before it), mark echoed, clear sent.

**The lead** is the audio sent but not yet played: bytes sent − bytes the latest played echo confirmed −
line-rate play (8 bytes/ms) since that echo, never past the earliest mark still pending. It is sampled at
each ``media`` sent inside a reply after the bot waited (before that message adds to it; a reply's first
message and a burst sent back to back are not samples: a message sent sooner after the previous one
than that one's audio lasts, by more than 10 ms, was sent faster than real time (the bot filling its lead
or catching up) and finds more queued than the previous message did, so it is never the minimum; a fill
spread out by a busy machine's scheduling delays is thus still no sample), so its minimum is the least
audio Twilio held while the bot was speaking (network in flight included: the bot cannot tell the two apart).

**Dry periods.** Twilio plays at the line rate whenever it holds audio, so inside one reply the *offset*
``echo_time − bytes_before_the_mark / 8000`` stays constant while play is continuous. A silence the caller
heard (the buffer ran dry: a network stall, or the bot late) raises it for every later echo of the reply;
an echo delayed on its way back raises it only until the next on-time echo. So the estimator keeps the
running minimum of the offsets over *later* echoes (a monotonic staircase) and counts a rise once it is
final: when ``confirm_ms`` of later echoes have kept it, or the reply ends (a ``clear``, an idle bot, the
call's end). Rises below ``tolerance_ms`` are noise (echoes arrive on Twilio's 20 ms clock) and are added
up until they pass it. A reply starts after the bot sent nothing for ``reply_gap_ms`` past the play time
of what it had sent: a pause between replies is not a dry period.

Blind spots: audio after a reply's last mark has no echo, so a silence there is not seen; a bot that
sends no marks gets no estimate at all.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

__all__ = ["BufferSummary", "DryPeriod", "TwilioBufferEstimator"]

_BYTES_PER_S = 8000  # μ-law at 8 kHz: one byte per sample
_BURST_S = 0.010  # media sent within this of the previous one is the same top-up of the buffer
# ... as is media sent sooner than the previous message's audio lasts, less that allowance: it went out
# faster than real time (a fill or a catch-up), so it finds more queued than the previous one did. A paced
# bot sends at 1x, whatever its lead; a fill on a loaded machine is spread out by scheduling delays of tens
# of ms (measured: 11-70 ms between the 100 ms messages of a 500 ms fill, 8 calls on 2 cores).


@dataclass(frozen=True)
class DryPeriod:
    """Twilio's buffer ran dry inside a reply: the caller heard silence in the bot's speech.

    Parameters:
        at: Clock time of the last echo before the silence (play was continuous up to there).
        ms: How long Twilio had nothing to play, in ms.
        confirmed_at: Clock time when the estimator was sure (a later echo or the reply's end).
    """

    at: float
    ms: float
    confirmed_at: float


@dataclass(frozen=True)
class BufferSummary:
    """One call's estimate.

    Parameters:
        lead_min_ms: Least lead while the bot was speaking (``None``: no played echo ever came).
        lead_median_ms: Median of the same samples.
        dry_count: Dry periods confirmed.
        dry_ms: Their total length, in ms.
        dry: Each of them.
    """

    lead_min_ms: float | None
    lead_median_ms: float | None
    dry_count: int
    dry_ms: float
    dry: tuple[DryPeriod, ...] = ()


@dataclass
class _Step:
    offset: float  # echo time − position / 8000, seconds
    t: float  # when the echo arrived
    since: float  # since when the level has been above the step below it


@dataclass
class _Reply:
    stairs: list[_Step] = field(default_factory=list)
    base: float | None = None  # the level dry time is measured from


class TwilioBufferEstimator:
    """Estimates Twilio's buffer from what the bot sent and when Twilio echoed its marks.

    Every event method returns the dry periods it confirmed (usually none), to log as they happen.
    """

    TOLERANCE_MS = 30.0
    """Rises of the offset smaller than this (added up) are echo-timing noise, not a dry buffer."""
    CONFIRM_MS = 1000.0
    """How long later echoes must keep a rise before it counts (marks come every 500 ms by default)."""
    REPLY_GAP_MS = 300.0
    """Bot-side silence (nothing sent past the play time of what was sent) that starts a new reply."""

    def __init__(
        self,
        *,
        tolerance_ms: float = TOLERANCE_MS,
        confirm_ms: float = CONFIRM_MS,
        reply_gap_ms: float = REPLY_GAP_MS,
        keep_samples: int = 30_000,
    ) -> None:
        """Initialize the estimator.

        Args:
            tolerance_ms: See :attr:`TOLERANCE_MS`.
            confirm_ms: See :attr:`CONFIRM_MS`.
            reply_gap_ms: See :attr:`REPLY_GAP_MS`.
            keep_samples: Lead samples kept for the median (the latest ones; the minimum covers all).

        Raises:
            ValueError: If a setting is negative or ``keep_samples`` is not positive.
        """
        if min(tolerance_ms, confirm_ms, reply_gap_ms) < 0:
            raise ValueError(
                "tolerance_ms, confirm_ms and reply_gap_ms must not be negative, got "
                f"{tolerance_ms!r}, {confirm_ms!r}, {reply_gap_ms!r}"
            )
        if keep_samples <= 0:
            raise ValueError(f"keep_samples must be positive, got {keep_samples!r}")
        self._tolerance = tolerance_ms / 1000
        self._confirm = confirm_ms / 1000
        self._reply_gap = reply_gap_ms / 1000
        self._sent = 0  # μ-law bytes sent
        self._played_by: float | None = None  # bot-side line-rate clock: when all sent audio has played
        self._reply = _Reply()
        self._reply_id = 0
        self._reply_media = 0  # media messages sent in the current reply
        self._last_media_t = 0.0
        self._last_media_s = 0.0  # audio length of the last media message, seconds
        self._pending: dict[str, tuple[int, int]] = {}  # mark name -> (position, reply id), in send order
        self._echo_position: int | None = None
        self._echo_t = 0.0
        self._lead_min: float | None = None
        self._leads: deque[float] = deque(maxlen=keep_samples)
        self._dry: list[DryPeriod] = []

    def __str__(self) -> str:
        """Name for log lines."""
        return "TwilioBufferEstimator"

    # ------------------------------------------------------------------ events

    def media_sent(self, ulaw_bytes: int, t: float) -> list[DryPeriod]:
        """The bot sent a ``media`` message of ``ulaw_bytes`` μ-law bytes at ``t``."""
        confirmed = self._maybe_new_reply(t)
        # Sampled where the bot tops the buffer up after waiting: the first message of a reply finds it
        # empty by design, and messages sent back to back (a burst filling the lead) are one top-up.
        burst_s = max(_BURST_S, self._last_media_s - _BURST_S)
        if self._reply_media > 0 and t - self._last_media_t >= burst_s:
            lead = self.lead_ms(t)
            if lead is not None:
                self._leads.append(lead)
                self._lead_min = lead if self._lead_min is None else min(self._lead_min, lead)
        self._reply_media += 1
        self._last_media_t = t
        self._last_media_s = ulaw_bytes / _BYTES_PER_S
        self._sent += ulaw_bytes
        start = t if self._played_by is None else max(self._played_by, t)
        self._played_by = start + ulaw_bytes / _BYTES_PER_S
        return confirmed

    def mark_sent(self, name: str, position: int, t: float) -> list[DryPeriod]:
        """The bot sent mark ``name`` after ``position`` μ-law bytes in all (the serializer's stamp)."""
        confirmed = self._maybe_new_reply(t)
        if self._played_by is None or self._played_by < t:
            self._played_by = t  # nothing queued: Twilio echoes it on arrival
        self._pending[name] = (position, self._reply_id)
        return confirmed

    def mark_echoed(self, name: str, t: float) -> list[DryPeriod]:
        """Twilio echoed mark ``name`` as played at ``t`` (a flushed or unknown mark is ignored)."""
        if name not in self._pending:
            return []
        position, reply_id = self._pending[name]
        for earlier in list(self._pending):  # echoes come in order: the ones before are done too
            del self._pending[earlier]
            if earlier == name:
                break
        self._echo_position, self._echo_t = position, t
        if reply_id != self._reply_id:
            return []
        self._push(position, t)
        return self._settle(t, final=False)

    def clear_sent(self, t: float) -> list[DryPeriod]:
        """The bot sent ``clear``: Twilio emptied its buffer; pending marks come back flushed."""
        confirmed = self._end_reply(t)
        self._pending.clear()
        self._echo_position, self._echo_t = self._sent, t
        self._played_by = t
        return confirmed

    def advance(self, t: float) -> list[DryPeriod]:
        """Let time pass: confirm rises old enough, end the reply if the bot has gone idle."""
        if self._played_by is not None and t > self._played_by + self._reply_gap and not self._pending:
            return self._end_reply(t)
        return self._settle(t, final=False)

    def finish(self, t: float) -> list[DryPeriod]:
        """The call ended: whatever the echoes showed is final."""
        return self._end_reply(t)

    # ------------------------------------------------------------------ readings

    def lead_ms(self, t: float) -> float | None:
        """Audio sent but not yet played at ``t``, in ms (``None`` before the first played echo)."""
        if self._echo_position is None:
            return None
        played = self._echo_position + (t - self._echo_t) * _BYTES_PER_S
        if self._pending:
            played = min(played, next(iter(self._pending.values()))[0])
        return max(0.0, self._sent - played) * 1000 / _BYTES_PER_S

    @property
    def dry_periods(self) -> list[DryPeriod]:
        """The dry periods confirmed so far."""
        return list(self._dry)

    def summary(self) -> BufferSummary:
        """The call's estimate so far (call :meth:`finish` first for the final one)."""
        median = statistics.median(self._leads) if self._leads else None
        return BufferSummary(
            lead_min_ms=None if self._lead_min is None else round(self._lead_min, 1),
            lead_median_ms=None if median is None else round(median, 1),
            dry_count=len(self._dry),
            dry_ms=round(sum(d.ms for d in self._dry), 1),
            dry=tuple(self._dry),
        )

    # ------------------------------------------------------------------ the staircase

    def _maybe_new_reply(self, t: float) -> list[DryPeriod]:
        if self._played_by is not None and t <= self._played_by + self._reply_gap:
            return []
        confirmed = self._end_reply(t)
        self._played_by = t
        return confirmed

    def _end_reply(self, t: float) -> list[DryPeriod]:
        confirmed = self._settle(t, final=True)
        self._reply = _Reply()
        self._reply_id += 1
        self._reply_media = 0
        return confirmed

    def _push(self, position: int, t: float) -> None:
        """Add one echo: drop the steps it undercuts (they were late echoes, not a dry buffer)."""
        offset = t - position / _BYTES_PER_S
        stairs, since = self._reply.stairs, t
        while stairs and stairs[-1].offset >= offset:
            since = min(since, stairs.pop().since)
        if not stairs:
            since = t
            base = self._reply.base
            self._reply.base = offset if base is None else min(base, offset)
        stairs.append(_Step(offset, t, since))

    def _settle(self, t: float, *, final: bool) -> list[DryPeriod]:
        """Fold the lowest step into the base once it is final; count the rise when it passes tolerance."""
        stairs, confirmed = self._reply.stairs, []
        while len(stairs) >= 2 and (final or stairs[1].since <= t - self._confirm):
            lower = stairs.pop(0)
            level = stairs[0].offset
            base = lower.offset if self._reply.base is None else self._reply.base
            if level - base >= self._tolerance:
                dry = DryPeriod(at=lower.t, ms=round((level - base) * 1000, 1), confirmed_at=t)
                self._dry.append(dry)
                confirmed.append(dry)
                self._reply.base = level
        return confirmed
