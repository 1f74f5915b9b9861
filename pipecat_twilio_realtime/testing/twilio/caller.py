"""The simulated Twilio caller: a websocket client that behaves like Twilio Media Streams.

Point it at a bot's media-stream URL (``ws://127.0.0.1:PORT/ws``) and it does what Twilio does on a
bidirectional ``<Connect><Stream>``:

* sends ``connected`` and ``start`` (μ-law 8000 Hz mono, custom parameters), then a ``media`` message
  every 20 ms on an absolute clock (no drift), continuously, from a script of speech, silence and DTMF;
* plays the bot's audio out on its own 20 ms clock (160 bytes per tick, 8 bytes per ms) from a playback
  buffer, records what the caller heard, and counts every gap: silence inside the bot's speech it had to
  insert because audio had not arrived (:mod:`.playout`);
* echoes each ``mark`` once the audio queued before it has played; on ``clear`` drops the queued audio
  and echoes every pending mark at once (those were flushed);
* checks every bot message strictly: only ``media``, ``mark`` and ``clear`` with exactly the documented
  keys and the right ``streamSid`` (anything else is what Twilio rejects with error 31951);
* sends ``stop`` at the end of the script, then closes; or notes that the bot closed first.

With ``network=`` (:class:`~pipecat_twilio_realtime.testing.network.NetworkConfig`) each direction of the
websocket goes through a seeded impairment: delay, jitter, stalls, batching, in order as TCP keeps it.

``sequenceNumber`` counts every message it sends after ``connected``, as Twilio's does. Nothing is ever
resampled: a WAV must already be 8000 Hz mono (PCM16 or μ-law).

Example::

    caller = SimulatedTwilioCaller(
        "ws://127.0.0.1:8765/ws",
        [Silence(1.0), Speech.from_wav("question.wav"), Silence(3.0)],
        custom_parameters={"caller": "+15550000000"},
    )
    report = await caller.run()
    assert not report.violations
    report.write_wav("heard.wav")
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import random
import time
import uuid
from array import array
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from loguru import logger
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ... import g711
from ...twilio import protocol as tp
from ..network import ImpairedLink, NetworkConfig
from .playout import GAP_LIMIT_S, Playout
from .script import (
    DTMF_KEYS,
    CallerReport,
    Dtmf,
    MarkEcho,
    Segment,
    Silence,
    Speech,
    WaitForBotAudio,
    WaitForBotSilence,
)

__all__ = ["FRAME_BYTES", "SILENCE", "SimulatedTwilioCaller", "check_outbound", "scaled_time"]

FRAME_BYTES = 160
"""One Twilio ``media`` message: 20 ms of μ-law at 8000 Hz."""
FRAME_SECS = 0.02
SILENCE = b"\xff"
"""μ-law digital silence (positive zero)."""


def check_outbound(message: str | bytes, stream_sid: str) -> tuple[str, Any] | str:
    """Check one bot → Twilio message as Twilio does (:func:`.twilio_protocol.parse_outbound`, then the SID).

    Args:
        message: The websocket message from the bot.
        stream_sid: The stream's SID.

    Returns:
        ``(event, value)`` for a valid message (the μ-law bytes of a ``media``, the name of a
        ``mark``, ``None`` for ``clear``), or a string saying why Twilio would reject it.
    """
    try:
        parsed = tp.parse_outbound(message)
    except tp.TwilioProtocolError as exc:
        return str(exc)
    result: tuple[str, Any] = ("clear", None)
    if isinstance(parsed, tp.OutboundMedia):
        result = ("media", parsed.payload)
    elif isinstance(parsed, tp.OutboundMark):
        result = ("mark", parsed.name)
    if parsed.stream_sid != stream_sid:
        return f"{result[0]}: streamSid {parsed.stream_sid[:40]!r} is not this stream's"
    return result


class SimulatedTwilioCaller:
    """Plays Twilio's side of a bidirectional Media Stream against a bot's websocket URL.

    One instance places one call: build it, ``await run()``, read the returned :class:`CallerReport`
    (also at :attr:`report` while the call runs). :meth:`send_dtmf` and :meth:`hang_up` may be called
    from another task during the call.
    """

    def __init__(
        self,
        url: str,
        script: Sequence[Segment | Path],
        *,
        custom_parameters: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        stream_sid: str | None = None,
        call_sid: str | None = None,
        account_sid: str | None = None,
        playout_delay_s: float = 0.0,
        linger_s: float = 0.5,
        noise_seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Coroutine[Any, Any, Any]] = asyncio.sleep,
        on_progress: Callable[[str], None] | None = None,
        open_timeout_s: float = 10.0,
        network: NetworkConfig | None = None,
        gap_limit_s: float = GAP_LIMIT_S,
        speed: float = 1.0,
    ) -> None:
        """Prepare a call.

        Args:
            url: The bot's media-stream websocket URL.
            script: What the caller does, in order: :class:`Speech`, :class:`Silence`, :class:`Dtmf`,
                :class:`WaitForBotAudio`, :class:`WaitForBotSilence`; a :class:`~pathlib.Path` is a
                WAV file spoken as :class:`Speech`.
            custom_parameters: Values for ``start.customParameters`` (TwiML ``<Parameter>``s).
            headers: Extra handshake headers (e.g. ``X-Twilio-Signature``).
            stream_sid: The stream SID (``MZ…``, generated when omitted).
            call_sid: The call SID (``CA…``, generated when omitted).
            account_sid: The account SID (``AC…``, generated when omitted).
            playout_delay_s: Jitter buffer: how long received audio waits before it starts playing
                (again after each underrun or ``clear``). 0 plays at the next 20 ms tick; a larger
                value keeps bot audio queued, as a slow network would.
            linger_s: How long to keep listening after the script ends, before ``stop``.
            noise_seed: Seed of the background noise of :class:`Silence` with ``noise_dbfs``.
            clock: Monotonic time source, in seconds; pacing and every reported time use it.
            sleep: Waits a number of seconds of ``clock`` time (pass a matching pair for a fake clock).
            on_progress: Called with a short line at each step (for a progress display).
            open_timeout_s: Seconds allowed for the websocket handshake.
            network: Impairment of the websocket, each direction (``None``: loopback as it is).
            gap_limit_s: The longest silence between two played ticks of bot audio that counts as a gap
                (longer is a pause between replies).
            speed: Run the call this many times faster than real time: call time is ``clock() * speed``
                and each wait lasts ``1 / speed`` of its call time. Every time in the report (and
                ``linger_s``, the script's seconds) is call time. Only for a bot that runs on the same
                scaled time (its output pacing and clocks); ``open_timeout_s`` stays real seconds.

        Raises:
            ValueError: If a WAV in ``script`` is not 8000 Hz mono PCM16 or μ-law, a delay is negative,
                or ``speed`` is not a positive finite number.
        """
        if playout_delay_s < 0 or linger_s < 0 or gap_limit_s < 0:
            raise ValueError("playout_delay_s, linger_s and gap_limit_s must not be negative")
        if not (0 < speed < math.inf):
            raise ValueError(f"speed must be a positive finite multiple of real time, got {speed!r}")
        if speed != 1.0:
            clock, sleep = scaled_time(speed, clock, sleep)
        self.url = url
        self.script: list[Segment] = [Speech.from_wav(s) if isinstance(s, Path) else s for s in script]
        self.custom_parameters = dict(custom_parameters or {})
        self.headers = dict(headers or {})
        self.stream_sid = stream_sid or "MZ" + uuid.uuid4().hex
        self.call_sid = call_sid or "CA" + uuid.uuid4().hex
        self.account_sid = account_sid or "AC" + uuid.uuid4().hex
        self.report = CallerReport(stream_sid=self.stream_sid)
        self._network = network or NetworkConfig()
        self._to_bot: ImpairedLink | None = None
        self._to_caller: ImpairedLink | None = None
        self._linger = linger_s
        self._noise = random.Random(noise_seed)
        self._clock = clock
        self._sleep = sleep
        self._progress = on_progress or (lambda _line: None)
        self._open_timeout = open_timeout_s
        self._ws: ClientConnection | None = None
        self._send_lock = asyncio.Lock()
        self._hung_up = asyncio.Event()
        self._start = 0.0
        self._seq = 0
        self._chunk = 0
        # Playback: unplayed audio, and marks as (bytes that must have played first, name).
        self._play = Playout(delay_s=playout_delay_s, gap_limit_s=gap_limit_s)
        self._marks: deque[tuple[int, str]] = deque()
        self._playing_since: float | None = None
        self._last_audio_at = -math.inf
        self._pending_reply_since: float | None = None
        self._pending_barge_in: float | None = None

    def __str__(self) -> str:
        return f"SimulatedTwilioCaller({self.stream_sid[:10]}…)"

    # ------------------------------------------------------------------ public controls

    async def send_dtmf(self, digit: str) -> None:
        """Press one key now, as Twilio reports it: a ``dtmf`` message on the inbound track.

        Args:
            digit: One of ``0123456789*#``.

        Raises:
            ValueError: If ``digit`` is not a single DTMF key.
            RuntimeError: If the call is not connected.
        """
        if len(digit) != 1 or digit not in DTMF_KEYS:
            raise ValueError(f"a DTMF key is one of {DTMF_KEYS!r}, got {digit!r}")
        await self._send(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )
        self.report.dtmf_sent.append(digit)
        self._event(f"dtmf {digit}")

    def hang_up(self) -> None:
        """End the call early: the caller stops its script, sends ``stop`` and closes."""
        self._hung_up.set()

    # ------------------------------------------------------------------ sending

    def _event(self, what: str) -> None:
        self.report.events.append((self._clock() - self._start, what))

    async def _send(self, message: dict[str, Any]) -> None:
        if self._ws is None or self._to_bot is None:
            raise RuntimeError(f"{self} is not connected")
        async with self._send_lock:
            if message["event"] != "connected":
                self._seq += 1
                message = {"event": message["event"], "sequenceNumber": str(self._seq), **message}
            await self._to_bot.put(json.dumps(message))
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

    def _silence_frame(self, noise_dbfs: float | None) -> bytes:
        if noise_dbfs is None:
            return SILENCE * FRAME_BYTES
        sigma = 32768.0 * 10.0 ** (noise_dbfs / 20.0)
        gauss = self._noise.gauss
        samples = array("h", (max(-32768, min(32767, round(gauss(0.0, sigma)))) for _ in range(FRAME_BYTES)))
        return g711.encode(samples.tobytes())

    async def _run_script(self) -> None:
        tick = 0

        async def next_frame(ulaw: bytes) -> None:
            nonlocal tick
            # Absolute schedule: frame n leaves at start + 20 ms * n, whatever the previous one cost.
            await self._sleep(max(0.0, self._start + tick * FRAME_SECS - self._clock()))
            await self._send_media(ulaw)
            tick += 1

        idle = SILENCE * FRAME_BYTES
        for segment in self.script:
            if isinstance(segment, Silence):
                self._progress(f"caller silent for {segment.seconds:.1f} s")
                for _ in range(round(segment.seconds / FRAME_SECS)):
                    await next_frame(self._silence_frame(segment.noise_dbfs))
            elif isinstance(segment, Dtmf):
                self._progress(f"caller presses {segment.digits}")
                for digit in segment.digits:
                    await self.send_dtmf(digit)
                    await next_frame(idle)
            elif isinstance(segment, WaitForBotSilence):
                self._progress("caller listens until the bot is done")
                deadline = self._clock() + segment.timeout_s
                while self._clock() < deadline:
                    if not self._play.buffer and self._clock() - self._last_audio_at >= segment.quiet_s:
                        break
                    await next_frame(idle)
            elif isinstance(segment, WaitForBotAudio):
                self._progress("caller waits for the bot to speak")
                deadline = self._clock() + segment.timeout_s
                while self._clock() < deadline:
                    since = self._playing_since
                    if since is not None and self._clock() - since >= segment.after_s:
                        break
                    await next_frame(idle)
            else:
                self._progress(f"caller says: {segment.label}")
                self._event(f"speech starts: {segment.label}")
                if self._play.buffer or self._playing_since is not None:
                    self._pending_barge_in = self._clock()
                for i in range(0, len(segment.ulaw), FRAME_BYTES):
                    frame = segment.ulaw[i : i + FRAME_BYTES]
                    await next_frame(frame + SILENCE * (FRAME_BYTES - len(frame)))
                self._event(f"speech ends: {segment.label}")
                self._pending_reply_since = self._clock()

    # ------------------------------------------------------------------ playout

    async def _playout(self) -> None:
        tick = 0
        while True:
            await self._sleep(max(0.0, self._start + tick * FRAME_SECS - self._clock()))
            tick += 1
            now = self._clock()
            self.report.ticks_at.append(now)
            # The previous tick's audio has now finished playing: echo the marks it completed.
            while self._marks and self._marks[0][0] <= self._play.played_total:
                await self._echo_mark(self._marks.popleft()[1], played=True)
            played, gap = self._play.tick(now)
            if gap is not None:
                self.report.gaps.append((gap.at - self._start, gap.ms))
                self._event(f"gap: {gap.ms:.0f} ms of silence inside bot speech (audio had not arrived)")
                logger.debug(f"{self} heard a {gap.ms:.0f} ms gap inside bot speech")
            if played:
                self._last_audio_at = now
                if self._playing_since is None:
                    self._playing_since = now
                self.report.heard += played
            else:
                self._playing_since = None
            self.report.timeline += played + SILENCE * (FRAME_BYTES - len(played))

    async def _echo_mark(self, name: str, *, played: bool) -> None:
        heard = len(self.report.heard)
        self.report.marks.append(MarkEcho(name, played, self._clock() - self._start, heard))
        (self.report.marks_played if played else self.report.marks_flushed).append(name)
        self._event(f"mark {'played' if played else 'flushed'}: {name}")
        await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    # ------------------------------------------------------------------ receiving

    async def _receive(self, ws: ClientConnection) -> None:
        assert self._to_caller is not None
        async for message in ws:
            await self._to_caller.put(message)
        await self._to_caller.drain()  # what the network still holds arrives before the close is noticed

    async def _on_message(self, message: str | bytes) -> None:
        """Handle one bot message as it reaches the caller (through the network, when impaired)."""
        self.report.messages_received += 1
        checked = check_outbound(message, self.stream_sid)
        if isinstance(checked, str):
            self.report.violations.append(checked)
            self._event(f"violation: {checked}")
            logger.warning(f"{self} bot message Twilio would reject (31951): {checked}")
            logger.debug(f"{self} rejected message starts {message[:80]!r}")
            return
        event, value = checked
        if event == "media":
            self._on_media(value)
        elif event == "mark":
            self._marks.append((self._play.played_total + len(self._play.buffer), value))
        else:
            await self._on_clear()

    def _on_media(self, ulaw: bytes) -> None:
        now = self._clock()
        self.report.media_received += 1
        self.report.ulaw_bytes_received += len(ulaw)
        self.report.media_received_at.append((now, len(ulaw)))
        self.report.received_audio += ulaw
        if self._pending_reply_since is not None:
            self.report.reply_latencies_s.append(now - self._pending_reply_since)
            self._pending_reply_since = None
            self._event("first bot audio after caller speech")
        self._play.push(ulaw, now)

    async def _on_clear(self) -> None:
        now = self._clock()
        self.report.clears += 1
        self.report.heard_at_clears.append(len(self.report.heard))
        self._event(f"clear ({len(self._play.buffer)} queued bytes dropped)")
        if self._pending_barge_in is not None:
            self.report.barge_in_latencies_s.append(now - self._pending_barge_in)
            self._pending_barge_in = None
        self.report.flushed_bytes += self._play.clear()
        self._playing_since = None
        marks = list(self._marks)
        self._marks.clear()
        for position, name in marks:
            # A mark whose audio had already played by now was due anyway; the rest were flushed.
            await self._echo_mark(name, played=position <= self._play.played_total)

    # ------------------------------------------------------------------ the call

    async def run(self) -> CallerReport:
        """Place the simulated call and return its report when it ends.

        Returns:
            The report.

        Raises:
            OSError: If the bot cannot be reached (``TimeoutError`` after ``open_timeout_s``).
            websockets.exceptions.InvalidStatus: If the bot refuses the websocket handshake.
        """
        async with connect(
            self.url, additional_headers=self.headers, max_size=2**22, open_timeout=self._open_timeout
        ) as ws:
            self._ws = ws
            self._start = self.report.started_at = self._clock()
            self._to_bot = to_bot = self._link("to_bot", ws.send)
            self._to_caller = to_caller = self._link("to_caller", self._on_message)
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
            self._event("start")
            receiver = asyncio.create_task(self._receive(ws))
            playout = asyncio.create_task(self._playout())
            script = asyncio.create_task(self._run_script())
            hung_up = asyncio.create_task(self._hung_up.wait())
            tasks = (script, playout, receiver, hung_up)
            try:
                await asyncio.wait({receiver, script, hung_up}, return_when=asyncio.FIRST_COMPLETED)
                if not receiver.done() and not _failed(script):
                    if script.done():
                        linger = asyncio.create_task(self._sleep(self._linger))
                        await asyncio.wait({receiver, linger, hung_up}, return_when=asyncio.FIRST_COMPLETED)
                        linger.cancel()
                if receiver.done() or _closed(script):
                    self.report.bot_closed_first = True
                    self._event("the bot closed the call")
                    self._progress("the bot closed the call")
                elif not _failed(script):
                    self._progress("caller hangs up")
                    self._event("stop")
                    await self._send(
                        {
                            "event": "stop",
                            "streamSid": self.stream_sid,
                            "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                        }
                    )
            except ConnectionClosed:
                self.report.bot_closed_first = True
                self._event("the bot closed the call")
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await to_caller.close()
                with contextlib.suppress(ConnectionClosed):
                    await to_bot.drain()  # the stop still in the network reaches the bot
                await to_bot.close()
            for task in (script, playout, receiver):
                # A bug of ours (or a bad script) must not pass for a closed call.
                if _failed(task) and not _closed(task):
                    raise task.exception()  # type: ignore[misc]
        return self.report

    def _link(self, direction: str, deliver: Callable[[Any], Coroutine[Any, Any, None]]) -> ImpairedLink:
        link = ImpairedLink(
            self._network.schedule(direction), deliver, clock=self._clock, sleep=self._sleep, name=direction
        )
        link.start(self._start)
        return link


def scaled_time(
    speed: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Coroutine[Any, Any, Any]] = asyncio.sleep,
) -> tuple[Callable[[], float], Callable[[float], Coroutine[Any, Any, Any]]]:
    """A clock and a sleep that run ``speed`` times faster than ``clock`` and ``sleep``.

    Args:
        speed: Multiples of real time (positive, finite).
        clock: The underlying monotonic clock, in seconds.
        sleep: The underlying sleep, in seconds of ``clock``.

    Returns:
        ``(clock, sleep)``: call time is ``clock() * speed``; ``sleep(s)`` waits ``s / speed``.
    """

    def scaled_clock() -> float:
        return clock() * speed

    async def scaled_sleep(seconds: float) -> Any:
        return await sleep(seconds / speed)

    return scaled_clock, scaled_sleep


def _failed(task: asyncio.Task[Any]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is not None


def _closed(task: asyncio.Task[Any]) -> bool:
    return _failed(task) and isinstance(task.exception(), ConnectionClosed)
