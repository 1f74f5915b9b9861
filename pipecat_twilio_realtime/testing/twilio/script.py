"""What the simulated caller does (script segments) and what it reports (marks echoed, the call's report)."""

from __future__ import annotations

import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

from ... import g711
from .wav import load_wav_as_ulaw

__all__ = [
    "DTMF_KEYS",
    "CallerReport",
    "Dtmf",
    "MarkEcho",
    "Segment",
    "Silence",
    "Speech",
    "WaitForBotAudio",
    "WaitForBotSilence",
]

DTMF_KEYS = "0123456789*#"
"""The keys a caller can press (Twilio reports no others on a phone call)."""


@dataclass(frozen=True)
class Speech:
    """Caller speech: μ-law 8000 Hz mono bytes, sent in 20 ms frames (the last one padded with silence).

    Parameters:
        ulaw: The μ-law audio.
        label: A name for progress lines and the event log.
    """

    ulaw: bytes
    label: str = "speech"

    @classmethod
    def from_wav(cls, path: str | Path, label: str | None = None) -> Speech:
        """Speech from a WAV file (8000 Hz mono, PCM16 or μ-law; see :func:`load_wav_as_ulaw`).

        Args:
            path: The WAV file.
            label: A name for the segment; the file name when omitted.

        Returns:
            The segment.
        """
        return cls(load_wav_as_ulaw(path), label or Path(path).name)


@dataclass(frozen=True)
class Silence:
    """The caller is quiet for ``seconds``: Twilio keeps sending ``media`` frames while nobody talks.

    Parameters:
        seconds: How long.
        noise_dbfs: ``None`` for digital silence (μ-law ``0xFF``), or the RMS level of a line's
            low-level background noise, e.g. ``-60.0`` (reproducible: seeded by the caller).
    """

    seconds: float
    noise_dbfs: float | None = None


@dataclass(frozen=True)
class Dtmf:
    """The caller presses keys: one Twilio ``dtmf`` message per digit (audio keeps flowing).

    Parameters:
        digits: Keys among ``0123456789*#``.
    """

    digits: str

    def __post_init__(self) -> None:
        """Reject keys Twilio never reports."""
        if not self.digits or any(d not in DTMF_KEYS for d in self.digits):
            raise ValueError(f"DTMF digits must be among {DTMF_KEYS!r}, got {self.digits!r}")


@dataclass(frozen=True)
class WaitForBotAudio:
    """Send silence until the bot's audio has been playing for ``after_s`` (at most ``timeout_s``)."""

    after_s: float = 0.5
    timeout_s: float = 15.0


@dataclass(frozen=True)
class WaitForBotSilence:
    """Send silence until the bot has been quiet for ``quiet_s`` after speaking (at most ``timeout_s``)."""

    quiet_s: float = 0.6
    timeout_s: float = 30.0


Segment: TypeAlias = Speech | Silence | Dtmf | WaitForBotAudio | WaitForBotSilence


@dataclass(frozen=True)
class MarkEcho:
    """One ``mark`` the caller echoed back to the bot.

    Parameters:
        name: The mark's name.
        played: ``True`` if the audio before it was played; ``False`` if a ``clear`` flushed it.
        at_s: Seconds from the call's start to the echo.
        heard_bytes: μ-law bytes the caller had heard when it echoed the mark.
    """

    name: str
    played: bool
    at_s: float
    heard_bytes: int


@dataclass
class CallerReport:
    """What happened on the simulated Twilio side of a call.

    Times ending in ``_s`` are seconds; ``events`` and :class:`MarkEcho` times count from the moment
    ``start`` was sent.

    Parameters:
        stream_sid: The stream SID used.
        messages_sent: Messages sent to the bot (all kinds, ``connected`` included).
        media_sent: ``media`` messages sent.
        ulaw_bytes_sent: μ-law bytes in them.
        dtmf_sent: Digits sent, in order.
        messages_received: Messages received from the bot (valid or not).
        media_received: Valid ``media`` messages received.
        ulaw_bytes_received: μ-law bytes in them.
        received_audio: Every μ-law byte received, in order.
        heard: The μ-law bytes actually played out, in order (flushed audio excluded).
        timeline: What the caller's ear got, 20 ms at a time from the start: heard audio and silence.
        marks: Every mark echoed, played or flushed, in echo order.
        marks_played: Names of marks echoed after their audio played.
        marks_flushed: Names of marks echoed at once because a ``clear`` flushed their audio.
        clears: ``clear`` messages received.
        flushed_bytes: μ-law bytes dropped by ``clear``s before being played.
        violations: Each bot message Twilio would reject (error 31951), with the reason.
        reply_latencies_s: For each caller speech segment, seconds from its end to the next bot audio.
        barge_in_latencies_s: For speech that started while bot audio was playing, seconds to the ``clear``.
        heard_at_clears: Length of :attr:`heard` (μ-law bytes) when each ``clear`` arrived.
        media_sent_at: Clock time of each ``media`` message sent (chunk ``i`` carries samples ``160*i`` on).
        media_received_at: Clock time and size of each ``media`` message received.
        ticks_at: Clock time of each 20 ms playout tick (tick ``i`` is :attr:`timeline` bytes ``160*i`` on):
            past ``started_at + 0.02 * i`` the caller's playout ran late on its own clock.
        started_at: Clock time the call started (the websocket opened).
        events: ``(seconds since start, what)`` for each step: speech, DTMF, first bot audio after
            speech, marks, clears, violations, stop, close.
        bot_closed_first: Whether the bot closed the socket before the caller hung up.
        gaps: Each gap the caller heard: ``(seconds since start it began, ms long)`` of silence inside
            the bot's speech, inserted because audio had not arrived in time (see :mod:`.playout`).
    """

    stream_sid: str = ""
    messages_sent: int = 0
    media_sent: int = 0
    ulaw_bytes_sent: int = 0
    dtmf_sent: list[str] = field(default_factory=list)
    messages_received: int = 0
    media_received: int = 0
    ulaw_bytes_received: int = 0
    received_audio: bytearray = field(default_factory=bytearray)
    heard: bytearray = field(default_factory=bytearray)
    timeline: bytearray = field(default_factory=bytearray)
    marks: list[MarkEcho] = field(default_factory=list)
    marks_played: list[str] = field(default_factory=list)
    marks_flushed: list[str] = field(default_factory=list)
    clears: int = 0
    flushed_bytes: int = 0
    violations: list[str] = field(default_factory=list)
    reply_latencies_s: list[float] = field(default_factory=list)
    barge_in_latencies_s: list[float] = field(default_factory=list)
    heard_at_clears: list[int] = field(default_factory=list)
    media_sent_at: list[float] = field(default_factory=list)
    media_received_at: list[tuple[float, int]] = field(default_factory=list)
    ticks_at: list[float] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    bot_closed_first: bool = False
    started_at: float = 0.0
    gaps: list[tuple[float, float]] = field(default_factory=list)

    @property
    def gap_count(self) -> int:
        """How many gaps the caller heard inside the bot's speech."""
        return len(self.gaps)

    @property
    def gap_ms(self) -> float:
        """The total ms of silence the caller heard inside the bot's speech."""
        return sum(ms for _, ms in self.gaps)

    @property
    def bot_speech_s(self) -> float:
        """Seconds of bot audio the caller heard (:attr:`heard`; flushed audio excluded)."""
        return len(self.heard) / g711.SAMPLE_RATE

    def longest_silence_s(self, after: str | None = None) -> float:
        """The longest stretch the caller heard nothing from the bot, up to the last audio received.

        Counted from the call's start, or from the first of :attr:`events` whose text starts with ``after``
        (e.g. ``"first bot audio after caller speech"``). Playout is rebuilt from arrival times: each
        message plays for ``bytes / 8000`` s once it has arrived and the audio before it has played (bots
        usually send faster than real time, so audio queues at the caller).

        Args:
            after: The event to count from (``None``: the call's start).

        Returns:
            Seconds.
        """
        since = self.started_at
        if after is not None:
            since += next(t for t, what in self.events if what.startswith(after))
        played_until, longest = since, 0.0
        for at, size in self.media_received_at:
            if at < since:
                continue
            if at > played_until:
                longest = max(longest, at - played_until)
                played_until = at
            played_until += size / g711.SAMPLE_RATE
        return longest

    def write_wav(self, path: str | Path, *, with_silence: bool = True) -> Path:
        """Write what the caller heard as a PCM16 8000 Hz mono WAV.

        Args:
            path: Where to write.
            with_silence: Keep the silences between replies (the call as the caller lived it);
                ``False`` writes :attr:`heard` only.

        Returns:
            The path written.
        """
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(out), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(g711.SAMPLE_RATE)
            wav.writeframes(g711.decode(bytes(self.timeline if with_silence else self.heard)))
        return out
