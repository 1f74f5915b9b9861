"""``CallRecorder``: an exact stereo recording of a call, caller left, the bot *as heard* right.

Both channels are μ-law from the wire, decoded once (:mod:`pipecat_twilio_realtime.g711`), 8000 Hz 16-bit,
never resampled. They share one clock, the **call clock**, counted in μ-law bytes (8 per ms): Twilio sends
caller audio continuously in real time (silence included), so caller byte ``n`` is call time ``n / 8000``
and the left channel is simply every inbound byte in order.

The right channel is what Twilio *played*. Twilio plays its buffer at the line rate, starting a chunk that
finds the buffer empty at the next 20 ms frame; a ``clear`` drops what was buffered and not yet played. So
each outbound chunk is placed at ``max(end of the audio before it, frame the caller is at now)``, and a
``clear`` cuts everything placed at or after the frame the caller is at (silence fills the rest). Where the
caller is comes from the inbound frames: the latest frame received plus the 20 ms frames since it.
Played mark echoes then pin the placement: Twilio echoes a mark at the frame after the audio before it
played, so a reply placed one frame early or late (a chunk that crossed a frame boundary in flight) is
moved, whole, to where the echo says it played.

Memory is bounded: audio is written to a temporary WAV once it is ``hold_s`` behind the caller's position
(nothing can move or cut it any more); only that tail and Twilio's unplayed buffer stay in memory. The
call's end finalizes the file.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger

from .. import g711
from .._logsafe import quote_for_log

__all__ = ["LEVEL_STEP_S", "CallRecorder", "RecordingInfo", "safe_file_stem", "temp_wav_path"]

FRAME = 160
"""One Twilio frame: 20 ms of μ-law."""
LEVEL_STEP_S = 0.05
"""The level envelope's step (``RecordingInfo.levels``)."""
_LEVEL_STEP = round(LEVEL_STEP_S * g711.SAMPLE_RATE)
_GAP_LIMIT = g711.SAMPLE_RATE  # silence inside a reply up to 1 s is a gap; longer is a pause
_SILENT = 0xFF  # μ-law digital silence


@dataclass
class RecordingInfo:
    """What the recorder knows about the call when it is finalized.

    Parameters:
        stream_sid: The stream SID (from the wire).
        path: The stereo WAV, or ``None`` when audio was not recorded.
        samples: Samples per channel (8000 a second).
        caller_bytes: μ-law bytes Twilio sent (the left channel).
        sent_bytes: μ-law bytes of bot audio sent to Twilio.
        heard_bytes: Of those, the ones Twilio played (the right channel's audio).
        flushed_bytes: The ones ``clear`` dropped, or sent after the caller stopped listening.
        corrections: Replies moved to where a played mark echo said they played.
        heard: ``[start_s, end_s]`` of each stretch of bot audio the caller heard.
        gaps: ``[at_s, ms]`` of each silence inside a reply (audio arrived after the previous ran out).
        clears: ``[at_s, flushed_ms]`` of each ``clear``.
        levels: RMS per :data:`LEVEL_STEP_S` of each channel (``caller``, ``bot``), PCM16 units.
    """

    stream_sid: str = ""
    path: Path | None = None
    samples: int = 0
    caller_bytes: int = 0
    sent_bytes: int = 0
    heard_bytes: int = 0
    flushed_bytes: int = 0
    corrections: int = 0
    heard: list[list[float]] = field(default_factory=list)
    gaps: list[list[float]] = field(default_factory=list)
    clears: list[list[float]] = field(default_factory=list)
    levels: dict[str, list[int]] = field(default_factory=lambda: {"caller": [], "bot": []})

    @property
    def duration_s(self) -> float:
        """The recording's length in seconds."""
        return self.samples / g711.SAMPLE_RATE

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (without the level envelope)."""
        return {
            "stream_sid": self.stream_sid,
            "path": str(self.path) if self.path else None,
            "duration_s": round(self.duration_s, 3),
            "caller_bytes": self.caller_bytes,
            "sent_bytes": self.sent_bytes,
            "heard_bytes": self.heard_bytes,
            "flushed_bytes": self.flushed_bytes,
            "corrections": self.corrections,
        }


@dataclass
class _Chunk:
    pos: int  # call-clock byte where its first byte plays
    sent: int  # offset of its first byte in the stream of bot audio sent
    ulaw: bytearray
    run: int  # chunks of one run play back to back


@dataclass
class _Mark:
    sent: int
    queued: bool  # audio was queued ahead of it: its echo pins a frame both ways


def safe_file_stem(stream_sid: str) -> str:
    """A file name for a stream SID from the wire: itself when it is a plain token, else a safe stand-in."""
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", stream_sid):
        return stream_sid
    kept = "".join(c for c in stream_sid if c.isascii() and c.isalnum())[:32]
    return f"call-{kept}" if kept else "call"


class CallRecorder:
    """The wire tap of one call: places bot audio on the call clock as Twilio played it; records both sides.

    Attach it with ``serializer.set_wire_tap(recorder)`` before the call starts (``MediaStatsObserver`` does
    it when ``record`` or ``timeline`` is on); every method is called by the serializer as the wire event
    happens.
    """

    def __init__(
        self,
        *,
        audio_path: Path | None = None,
        hold_s: float = 2.0,
        link_delay_s: float = 0.001,
        on_event: Callable[..., None] | None = None,
    ) -> None:
        """Initialize the recorder.

        Args:
            audio_path: Where to stream the stereo WAV while the call runs (``None``: no audio, only the
                placement, for the timeline).
            hold_s: How far behind the caller's position audio is kept in memory, movable by a late mark
                echo, before it is written.
            link_delay_s: The time a frame takes Twilio → bot plus bot → Twilio: a ``clear`` sent that long
                before a frame boundary already lands after it.
            on_event: Called as ``on_event(kind, t_s, **fields)`` for each wire event of the timeline.

        Raises:
            ValueError: If ``hold_s`` or ``link_delay_s`` is negative.
        """
        if hold_s < 0 or link_delay_s < 0:
            raise ValueError("hold_s and link_delay_s must not be negative")
        self._hold = round(hold_s * g711.SAMPLE_RATE)
        self._delay = link_delay_s
        self._emit = on_event or (lambda *_a, **_k: None)
        self.info = RecordingInfo(path=audio_path)
        self._wav: wave.Wave_write | None = None
        if audio_path is not None:
            self._wav = wave.open(str(audio_path), "wb")  # closed in finalize()
            self._wav.setnchannels(2)
            self._wav.setsampwidth(2)
            self._wav.setframerate(g711.SAMPLE_RATE)
        self._in = 0  # caller bytes received = the call clock at the latest inbound frame
        self._in_at: float | None = None
        self._caller = bytearray()  # caller bytes not yet written (from _written)
        self._written = 0
        self._chunks: list[_Chunk] = []  # placed bot audio not yet written, in order
        self._head = 0  # where the audio sent so far ends playing
        self._sent = 0
        self._run = 0
        self._in_reply = False
        self._marks: dict[str, _Mark] = {}
        self._stopped = False
        self._closed = False
        self._last_end = -1  # end of the latest heard stretch (to merge adjacent ones)

    @property
    def buffered_bytes(self) -> int:
        """μ-law bytes held in memory (both channels), not yet written."""
        return len(self._caller) + sum(len(c.ulaw) for c in self._chunks)

    @property
    def written_samples(self) -> int:
        """Samples per channel written to the WAV so far."""
        return self._written

    # ------------------------------------------------------------------ the call clock

    def position(self, now: float) -> int:
        """The caller's playout position at ``now``, in μ-law bytes: frame-aligned, as Twilio plays."""
        if self._in_at is None:
            return 0
        frames = int((now - self._in_at + self._delay) / 0.02) if now > self._in_at else 0
        return self._in + frames * FRAME

    def call_time(self, now: float) -> float:
        """Seconds on the call clock at ``now`` (caller byte 0 is 0 s)."""
        if self._in_at is None:
            return 0.0
        return (self._in + max(0.0, now - self._in_at) * g711.SAMPLE_RATE) / g711.SAMPLE_RATE

    # ------------------------------------------------------------------ the wire tap

    def inbound_media(self, ulaw: bytes, now: float) -> None:
        """Caller audio arrived: the left channel, and the call clock."""
        if self._closed:
            return
        self._caller += ulaw
        self._in += len(ulaw)
        self._in_at = now
        self.info.caller_bytes += len(ulaw)
        self._write(self._in - self._hold)

    def outbound_media(self, ulaw: bytes, now: float) -> None:
        """Bot audio went out: place it where Twilio will play it."""
        sent, self._sent = self._sent, self._sent + len(ulaw)
        self.info.sent_bytes += len(ulaw)
        if self._stopped or self._closed:
            self.info.flushed_bytes += len(ulaw)
            return
        at = self.position(now)
        start = max(self._head, at)
        if start > self._head:
            if self._in_reply and start - self._head <= _GAP_LIMIT:
                gap = [round(self._head / g711.SAMPLE_RATE, 3), (start - self._head) / 8]
                self.info.gaps.append(gap)
                self._emit("gap", gap[0], ms=gap[1])
            self._run += 1
        self._in_reply = True
        self._chunks.append(_Chunk(start, sent, bytearray(ulaw), self._run))
        self._head = start + len(ulaw)

    def clear_sent(self, now: float) -> None:
        """A ``clear``: drop what was placed at or after the frame the caller is at."""
        at = self.position(now)
        flushed = self._cut(at)
        self.info.clears.append([round(at / g711.SAMPLE_RATE, 3), flushed / 8])
        self._emit("clear", at / g711.SAMPLE_RATE, flushed_ms=flushed / 8)

    def mark_sent(self, name: str, ulaw_sent: int, now: float) -> None:
        """A mark went out after ``ulaw_sent`` bytes."""
        self._marks[name] = _Mark(ulaw_sent, queued=self._head >= self.position(now) + FRAME)
        if len(self._marks) > 256:  # echoes that never came (a lost stream): keep the newest
            self._marks.pop(next(iter(self._marks)))
        self._emit("mark_sent", self.call_time(now), name=name)

    def mark_echoed(self, name: str, ulaw_sent: int | None, played: bool, now: float) -> None:
        """A mark echo: a played one pins where the audio before it played."""
        mark = self._marks.pop(name, None)
        self._emit("mark_echo", self.call_time(now), name=name, played=played)
        if not played or mark is None or mark.sent == 0 or self._in_at is None:
            return
        # Twilio echoes at the first frame after the audio before the mark played: frame `echo` here.
        frames = round((now - self._in_at) / 0.02)
        echo = self._in - FRAME + frames * FRAME
        self._pin(mark.sent - 1, latest=echo, earliest=echo - FRAME if mark.queued else None)

    def stream_stopped(self, now: float) -> None:
        """Twilio's ``stop``: whatever was not played by now never will be."""
        if not self._stopped:
            self._stopped = True
            self.info.flushed_bytes += self._cut(self.position(now))

    # ------------------------------------------------------------------ finalize

    def finalize(self, now: float, stream_sid: str = "") -> RecordingInfo:
        """End the recording (once): cut at the caller's position unless ``stop`` did, write the rest.

        Args:
            now: The serializer clock's time.
            stream_sid: The stream SID, for the info.

        Returns:
            The recording's info (``path`` is the finished temporary WAV, or ``None``).
        """
        if self._closed:
            return self.info
        if not self._stopped:
            self.stream_stopped(now)
        self.info.stream_sid = stream_sid
        end = max(self._in, self._chunks[-1].pos + len(self._chunks[-1].ulaw) if self._chunks else 0)
        self._write(end, final=True)
        self._closed = True
        if self._wav is not None:
            self._wav.close()
        self.info.samples = self._written
        return self.info

    def discard(self) -> None:
        """Close and delete the temporary WAV (a call that should not be kept)."""
        self._closed = True
        if self._wav is not None:
            with contextlib.suppress(Exception):
                self._wav.close()
        if self.info.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.info.path)

    # ------------------------------------------------------------------ internals

    def _cut(self, at: int) -> int:
        """Drop placed audio at or after ``at`` (never before what is written); return the bytes dropped."""
        at = max(at, self._written)
        dropped = 0
        while self._chunks and self._chunks[-1].pos >= at:
            dropped += len(self._chunks.pop().ulaw)
        if self._chunks:
            last = self._chunks[-1]
            over = last.pos + len(last.ulaw) - at
            if over > 0:
                del last.ulaw[len(last.ulaw) - over :]
                dropped += over
        self._head = min(self._head, at)
        self._in_reply = False
        self.info.flushed_bytes += dropped
        return dropped

    def _pin(self, sent_byte: int, *, latest: int, earliest: int | None) -> None:
        """Move the run holding sent byte ``sent_byte`` so it plays in ``[earliest, latest)``."""
        for chunk in self._chunks:
            if chunk.sent <= sent_byte < chunk.sent + len(chunk.ulaw):
                break
        else:
            return  # written already, or flushed
        placed = chunk.pos + sent_byte - chunk.sent
        shift = 0
        if placed >= latest:
            shift = -((placed - latest) // FRAME + 1) * FRAME
        elif earliest is not None and placed < earliest:
            shift = -((placed - earliest) // FRAME) * FRAME
        if not shift:
            return
        run = [c for c in self._chunks if c.run == chunk.run]
        first, last = run[0], run[-1]
        before = self._chunks[self._chunks.index(first) - 1] if self._chunks.index(first) > 0 else None
        after_index = self._chunks.index(last) + 1
        after = self._chunks[after_index] if after_index < len(self._chunks) else None
        new_start, new_end = first.pos + shift, last.pos + len(last.ulaw) + shift
        if (
            new_start < self._written
            or (before is not None and new_start < before.pos + len(before.ulaw))
            or (after is not None and new_end > after.pos)
        ):
            logger.debug(f"{self} a mark echo says a reply played {shift / 8:+.0f} ms off; it cannot move")
            return
        for c in run:
            c.pos += shift
        if after is None:
            self._head += shift
        self.info.corrections += 1
        logger.debug(f"{self} moved a reply {shift / 8:+.0f} ms to where its mark echo says it played")

    def _write(self, upto: int, *, final: bool = False) -> None:
        """Write both channels from ``_written`` up to ``upto`` (whole level steps unless ``final``)."""
        if not final:
            upto = min(upto, self._in)
            upto -= (upto - self._written) % _LEVEL_STEP
        if upto <= self._written:
            return
        start, n = self._written, upto - self._written
        caller = bytes(self._caller[:n]).ljust(n, bytes([_SILENT]))
        del self._caller[:n]
        bot = bytearray([_SILENT]) * n
        keep: list[_Chunk] = []
        for chunk in self._chunks:
            end = chunk.pos + len(chunk.ulaw)
            lo, hi = max(chunk.pos, start), min(end, upto)
            if hi > lo:
                bot[lo - start : hi - start] = chunk.ulaw[lo - chunk.pos : hi - chunk.pos]
                self._heard(lo, hi)
            if end > upto:
                if chunk.pos < upto:  # keep the unwritten part
                    cut = upto - chunk.pos
                    chunk.sent += cut
                    del chunk.ulaw[:cut]
                    chunk.pos = upto
                keep.append(chunk)
        self._chunks = keep
        self._written = upto
        left = np.frombuffer(g711.decode(caller), dtype=np.int16)
        right = np.frombuffer(g711.decode(bytes(bot)), dtype=np.int16)
        if self._wav is not None:
            self._wav.writeframes(np.column_stack((left, right)).tobytes())
        for name, channel in (("caller", left), ("bot", right)):
            steps = channel[: len(channel) - len(channel) % _LEVEL_STEP].reshape(-1, _LEVEL_STEP)
            if len(steps):
                rms = np.sqrt(np.mean(steps.astype(np.float64) ** 2, axis=1))
                self.info.levels[name].extend(int(v) for v in rms)

    def _heard(self, lo: int, hi: int) -> None:
        self.info.heard_bytes += hi - lo
        heard = self.info.heard
        if heard and lo <= self._last_end:
            heard[-1][1] = round(hi / g711.SAMPLE_RATE, 3)
        else:
            heard.append([round(lo / g711.SAMPLE_RATE, 3), round(hi / g711.SAMPLE_RATE, 3)])
        self._last_end = hi

    def __str__(self) -> str:
        return f"CallRecorder({quote_for_log(self.info.stream_sid or None)})"


def temp_wav_path(directory: Path | None) -> Path:
    """A fresh temporary ``.wav`` path (in ``directory`` when given, so a rename finishes it)."""
    fd, name = tempfile.mkstemp(prefix=".call-", suffix=".wav.part", dir=directory)
    os.close(fd)
    return Path(name)
