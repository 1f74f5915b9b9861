"""A simulated Twilio caller: a websocket client that behaves like Twilio Media Streams.

Point it at a bot's media-stream URL (``ws://127.0.0.1:PORT/ws``) and it does what Twilio does on a
bidirectional ``<Connect><Stream>``:

* sends ``connected`` and ``start`` (μ-law 8000 Hz mono, custom parameters), then a ``media`` message
  every 20 ms on an absolute clock, continuously, from a script of speech and silence;
* plays the bot's audio out in real time (8 bytes per ms) and records what the caller heard;
* echoes each ``mark`` once the audio queued before it has played; on ``clear`` drops the queued audio
  and echoes every pending mark at once (those were flushed);
* checks every bot message strictly: only ``media``, ``mark`` and ``clear`` with exactly the documented
  keys and the right ``streamSid`` (anything else is what Twilio rejects with error 31951);
* sends ``stop`` at the end of the script, then closes.

``sequenceNumber`` counts every message it sends, as Twilio's does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
import uuid
import wave
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .. import g711

__all__ = [
    "CallerReport",
    "Silence",
    "SimulatedTwilioCaller",
    "Speech",
    "WaitForBotAudio",
    "WaitForBotSilence",
    "load_wav_as_ulaw",
]

FRAME_BYTES = 160  # 20 ms of μ-law at 8000 Hz
FRAME_SECS = 0.02
SILENCE = b"\xff"


@dataclass(frozen=True)
class Speech:
    """Caller speech: μ-law 8000 Hz mono bytes, sent in 20 ms frames."""

    ulaw: bytes
    label: str = "speech"


@dataclass(frozen=True)
class Silence:
    """Caller silence for ``seconds`` (Twilio keeps sending media frames while nobody talks)."""

    seconds: float


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


Segment = Speech | Silence | WaitForBotAudio | WaitForBotSilence


def load_wav_as_ulaw(path: str | Path) -> bytes:
    """Read a WAV file as μ-law 8000 Hz mono (PCM16 is encoded; μ-law WAVs are taken as they are).

    Args:
        path: The WAV file.

    Returns:
        μ-law bytes.

    Raises:
        ValueError: If the file is not 8000 Hz mono PCM16 or μ-law (nothing is ever resampled).
    """
    raw = Path(path).read_bytes()
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a WAV file")
    fmt_at = raw.find(b"fmt ")
    if fmt_at < 0:
        raise ValueError(f"{path}: WAV without a fmt chunk")
    audio_format = int.from_bytes(raw[fmt_at + 8 : fmt_at + 10], "little")
    channels = int.from_bytes(raw[fmt_at + 10 : fmt_at + 12], "little")
    rate = int.from_bytes(raw[fmt_at + 12 : fmt_at + 16], "little")
    bits = int.from_bytes(raw[fmt_at + 22 : fmt_at + 24], "little")
    if rate != 8000 or channels != 1:
        raise ValueError(
            f"{path}: {rate} Hz {channels} ch; the caller needs 8000 Hz mono (convert it first, e.g. "
            "`sox in.wav -r 8000 -c 1 out.wav`: this tool never resamples)"
        )
    data_at = raw.find(b"data", fmt_at)
    if data_at < 0:
        raise ValueError(f"{path}: WAV without a data chunk")
    size = int.from_bytes(raw[data_at + 4 : data_at + 8], "little")
    data = raw[data_at + 8 : data_at + 8 + size]
    if audio_format == 7 and bits == 8:
        return data
    if audio_format == 1 and bits == 16:
        return g711.encode(data[: len(data) - len(data) % 2])
    raise ValueError(f"{path}: format {audio_format}/{bits}-bit; the caller needs PCM16 or μ-law")


@dataclass
class CallerReport:
    """What happened on the simulated Twilio side of a call.

    Parameters:
        stream_sid: The stream SID used.
        messages_sent: Messages sent to the bot (all kinds).
        media_sent: ``media`` messages sent.
        ulaw_bytes_sent: μ-law bytes in them.
        messages_received: Messages received from the bot.
        media_received: ``media`` messages received.
        received_audio: Every μ-law byte received, in order.
        heard: The μ-law bytes actually played out, in order (flushed audio excluded).
        timeline: What the caller's ear got, 20 ms at a time from the start: heard audio and silence.
        marks_played: Names of marks echoed after their audio played.
        marks_flushed: Names of marks echoed at once because a ``clear`` flushed their audio.
        clears: ``clear`` messages received.
        flushed_bytes: μ-law bytes dropped by ``clear``s before being played.
        violations: Each bot message Twilio would reject, with the reason.
        reply_latencies_s: For each caller speech segment, seconds from its end to the next bot audio.
        barge_in_latencies_s: For speech that started while bot audio was playing, seconds to the ``clear``.
        heard_at_clears: Length of :attr:`heard` (μ-law bytes) when each ``clear`` arrived.
        media_sent_at: Clock time of each ``media`` message sent (chunk ``i`` carries samples ``160*i`` on).
        media_received_at: Clock time and size of each ``media`` message received.
        bot_closed_first: Whether the bot closed the socket before the script ended.
    """

    stream_sid: str = ""
    messages_sent: int = 0
    media_sent: int = 0
    ulaw_bytes_sent: int = 0
    messages_received: int = 0
    media_received: int = 0
    received_audio: bytearray = field(default_factory=bytearray)
    heard: bytearray = field(default_factory=bytearray)
    timeline: bytearray = field(default_factory=bytearray)
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
    bot_closed_first: bool = False

    def write_wav(self, path: str | Path, *, with_silence: bool = True) -> Path:
        """Write what the caller heard as a PCM16 8000 Hz mono WAV.

        Args:
            path: Where to write.
            with_silence: Keep the silences between replies (the call as the caller lived it).

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


_TOP_KEYS: dict[str, set[str]] = {
    "media": {"event", "streamSid", "media"},
    "mark": {"event", "streamSid", "mark"},
    "clear": {"event", "streamSid"},
}
_INNER_KEYS: dict[str, set[str]] = {"media": {"payload"}, "mark": {"name"}}


def check_outbound(message: str | bytes, stream_sid: str) -> tuple[str, Any] | str:
    """Check one bot → Twilio message strictly, as Twilio does.

    Args:
        message: The websocket message from the bot.
        stream_sid: The stream's SID.

    Returns:
        ``(event, value)`` for a valid message (the μ-law bytes of a ``media``, the name of a
        ``mark``, ``None`` for ``clear``), or a string saying why Twilio would reject it.
    """
    if isinstance(message, bytes):
        return "binary websocket frame (Twilio expects JSON text)"
    try:
        data = json.loads(message)
    except ValueError:
        return f"not JSON: {message[:40]!r}"
    if not isinstance(data, dict):
        return "not a JSON object"
    event = data.get("event")
    shape = _TOP_KEYS.get(event) if isinstance(event, str) else None
    if shape is None or not isinstance(event, str):
        return f"unknown event {event!r}"
    if set(data) != shape:
        return f"{event}: keys {sorted(data)} instead of {sorted(shape)}"
    if data["streamSid"] != stream_sid:
        return f"{event}: streamSid {data['streamSid']!r} is not this stream's"
    inner_keys = _INNER_KEYS.get(event)
    if inner_keys is not None:
        inner = data[event]
        if not isinstance(inner, dict) or set(inner) != inner_keys:
            return f"{event}: '{event}' must be exactly {sorted(inner_keys)}"
    if event == "media":
        payload = data["media"]["payload"]
        if not isinstance(payload, str):
            return "media: payload is not a string"
        try:
            return ("media", base64.b64decode(payload, validate=True))
        except (binascii.Error, ValueError):
            return "media: payload is not valid base64"
    if event == "mark":
        name = data["mark"]["name"]
        return ("mark", name) if isinstance(name, str) else "mark: name is not a string"
    return ("clear", None)


class SimulatedTwilioCaller:
    """Plays Twilio's side of a bidirectional Media Stream against a bot's websocket URL."""

    def __init__(
        self,
        url: str,
        script: Sequence[Segment],
        *,
        custom_parameters: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        stream_sid: str | None = None,
        call_sid: str | None = None,
        account_sid: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_progress: Callable[[str], None] | None = None,
        linger_s: float = 0.5,
    ) -> None:
        """Prepare a call.

        Args:
            url: The bot's media-stream websocket URL.
            script: What the caller does: :class:`Speech`, :class:`Silence`, :class:`WaitForBotAudio`,
                :class:`WaitForBotSilence`.
            custom_parameters: Values for ``start.customParameters`` (TwiML ``<Parameter>``s).
            headers: Extra handshake headers (e.g. ``X-Twilio-Signature``).
            stream_sid: The stream SID (generated when omitted); likewise ``call_sid``, ``account_sid``.
            call_sid: The call SID.
            account_sid: The account SID.
            clock: Monotonic time source, in seconds.
            on_progress: Called with a short line at each step (for a progress display).
            linger_s: How long to keep playing out after the script, before ``stop``.
        """
        self.url = url
        self.script = list(script)
        self.custom_parameters = dict(custom_parameters or {})
        self.headers = dict(headers or {})
        self.stream_sid = stream_sid or "MZ" + uuid.uuid4().hex
        self.call_sid = call_sid or "CA" + uuid.uuid4().hex
        self.account_sid = account_sid or "AC" + uuid.uuid4().hex
        self._clock = clock
        self._progress = on_progress or (lambda _line: None)
        self._linger = linger_s
        self.report = CallerReport(stream_sid=self.stream_sid)
        self._seq = 0
        self._chunk = 0
        self._queue: deque[tuple[str, Any]] = deque()  # ("audio", bytes) | ("mark", name)
        self._queued_audio = 0
        self._playing_since: float | None = None
        self._last_audio_at = -1.0
        self._pending_reply_since: float | None = None
        self._pending_barge_in: float | None = None
        self._ws: Any = None
        self._send_lock = asyncio.Lock()

    # ------------------------------------------------------------------ sending

    async def _send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            if message.get("event") != "connected":
                self._seq += 1
                message = {"event": message["event"], "sequenceNumber": str(self._seq), **message}
            await self._ws.send(json.dumps(message))
            self.report.messages_sent += 1

    async def _send_media(self, ulaw: bytes) -> None:
        self._chunk += 1
        await self._send(
            {
                "event": "media",
                "streamSid": self.stream_sid,
                "media": {
                    "track": "inbound",
                    "chunk": str(self._chunk),
                    "timestamp": str((self._chunk - 1) * 20),
                    "payload": base64.b64encode(ulaw).decode("ascii"),
                },
            }
        )
        self.report.media_sent += 1
        self.report.ulaw_bytes_sent += len(ulaw)
        self.report.media_sent_at.append(self._clock())

    def _bot_playing(self) -> bool:
        return self._queued_audio > 0

    async def _run_script(self, start: float) -> None:
        tick = 0

        async def next_frame(ulaw: bytes) -> None:
            nonlocal tick
            await asyncio.sleep(max(0.0, start + tick * FRAME_SECS - self._clock()))
            await self._send_media(ulaw)
            tick += 1

        for segment in self.script:
            if isinstance(segment, Silence):
                self._progress(f"caller silent for {segment.seconds:.1f} s")
                for _ in range(round(segment.seconds / FRAME_SECS)):
                    await next_frame(SILENCE * FRAME_BYTES)
            elif isinstance(segment, WaitForBotSilence):
                self._progress("caller listens until the bot is done")
                deadline = self._clock() + segment.timeout_s
                while self._clock() < deadline:
                    if self._queued_audio == 0 and self._clock() - self._last_audio_at >= segment.quiet_s:
                        break
                    await next_frame(SILENCE * FRAME_BYTES)
            elif isinstance(segment, WaitForBotAudio):
                self._progress("caller waits for the bot to speak")
                deadline = self._clock() + segment.timeout_s
                while self._clock() < deadline:
                    since = self._playing_since
                    if since is not None and self._clock() - since >= segment.after_s:
                        break
                    await next_frame(SILENCE * FRAME_BYTES)
            else:
                self._progress(f"caller says: {segment.label}")
                if self._bot_playing():
                    self._pending_barge_in = self._clock()
                for i in range(0, len(segment.ulaw), FRAME_BYTES):
                    frame = segment.ulaw[i : i + FRAME_BYTES]
                    await next_frame(frame + SILENCE * (FRAME_BYTES - len(frame)))
                self._pending_reply_since = self._clock()

    # ------------------------------------------------------------------ playout

    async def _playout(self, start: float) -> None:
        tick = 0
        while True:
            await asyncio.sleep(max(0.0, start + tick * FRAME_SECS - self._clock()))
            tick += 1
            await self._echo_marks_at_head()
            need = FRAME_BYTES
            played = bytearray()
            while need and self._queue:
                kind, value = self._queue[0]
                if kind == "mark":
                    break
                take = value[:need]
                played += take
                need -= len(take)
                self._queued_audio -= len(take)
                if len(take) == len(value):
                    self._queue.popleft()
                else:
                    self._queue[0] = ("audio", value[len(take) :])
            await self._echo_marks_at_head()
            if played:
                self._last_audio_at = self._clock()
                if self._playing_since is None:
                    self._playing_since = self._clock()
                self.report.heard += played
            else:
                self._playing_since = None
            self.report.timeline += played + SILENCE * (FRAME_BYTES - len(played))

    async def _echo_marks_at_head(self) -> None:
        while self._queue and self._queue[0][0] == "mark":
            _, name = self._queue.popleft()
            self.report.marks_played.append(name)
            await self._send_mark(name)

    async def _send_mark(self, name: str) -> None:
        await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    # ------------------------------------------------------------------ receiving

    async def _receive(self) -> None:
        async for message in self._ws:
            self.report.messages_received += 1
            checked = check_outbound(message, self.stream_sid)
            if isinstance(checked, str):
                self.report.violations.append(checked)
                logger.warning(f"{self} bot message Twilio would reject (31951): {checked}")
                continue
            event, value = checked
            now = self._clock()
            if event == "media":
                self.report.media_received += 1
                self.report.media_received_at.append((now, len(value)))
                self.report.received_audio += value
                if self._pending_reply_since is not None:
                    self.report.reply_latencies_s.append(now - self._pending_reply_since)
                    self._pending_reply_since = None
                self._queue.append(("audio", value))
                self._queued_audio += len(value)
            elif event == "mark":
                if self._queue:
                    self._queue.append(("mark", value))
                else:  # nothing left to play before it: Twilio echoes it right away
                    self.report.marks_played.append(value)
                    await self._send_mark(value)
            else:
                self.report.clears += 1
                self.report.heard_at_clears.append(len(self.report.heard))
                if self._pending_barge_in is not None:
                    self.report.barge_in_latencies_s.append(now - self._pending_barge_in)
                    self._pending_barge_in = None
                flushed = [name for kind, name in self._queue if kind == "mark"]
                self.report.flushed_bytes += self._queued_audio
                self._queue.clear()
                self._queued_audio = 0
                self._playing_since = None
                for name in flushed:
                    self.report.marks_flushed.append(name)
                    await self._send_mark(name)

    # ------------------------------------------------------------------ the call

    async def run(self) -> CallerReport:
        """Place the simulated call and return its report when it ends.

        Returns:
            The report.
        """
        async with connect(self.url, additional_headers=self.headers, max_size=2**22) as ws:
            self._ws = ws
            await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            await self._send(
                {
                    "event": "start",
                    "streamSid": self.stream_sid,
                    "start": {
                        "accountSid": self.account_sid,
                        "streamSid": self.stream_sid,
                        "callSid": self.call_sid,
                        "tracks": ["inbound"],
                        "customParameters": self.custom_parameters,
                        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    },
                }
            )
            start = self._clock()
            receiver = asyncio.create_task(self._receive())
            playout = asyncio.create_task(self._playout(start))
            script = asyncio.create_task(self._run_script(start))
            try:
                done, _ = await asyncio.wait({receiver, script}, return_when=asyncio.FIRST_COMPLETED)
                if receiver in done:
                    self.report.bot_closed_first = True
                    self._progress("the bot closed the call")
                else:
                    await asyncio.sleep(self._linger)
                    self._progress("caller hangs up")
                    await self._send(
                        {
                            "event": "stop",
                            "streamSid": self.stream_sid,
                            "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                        }
                    )
            except ConnectionClosed:
                self.report.bot_closed_first = True
            finally:
                for task in (script, playout, receiver):
                    task.cancel()
                await asyncio.gather(script, playout, receiver, return_exceptions=True)
        return self.report

    def __str__(self) -> str:
        return f"SimulatedTwilioCaller({self.stream_sid[:10]}…)"
