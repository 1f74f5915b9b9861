"""``TwilioMediaStreamSerializer``: Twilio Media Streams ⇄ Pipecat frames, μ-law exact, never resampled.

Inside the pipeline audio is PCM16 mono at 8000 Hz; on the Twilio socket it is
G.711 μ-law at 8000 Hz. The conversion is a table look-up per sample
(:mod:`pipecat_twilio_realtime.g711`), so μ-law bytes that enter as frames leave
as the same bytes (0x7F aside). Any other pipeline rate is a configuration error
raised at ``setup()``: this serializer never resamples.

Wire messages are parsed and built only by :mod:`pipecat_twilio_realtime.twilio.protocol`,
so every outbound message has exactly the documented keys.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger
from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import (
    AudioRawFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.serializers.base_serializer import FrameSerializer

from .. import g711
from .._logsafe import WarnOnce
from .._logsafe import quote_for_log as q
from . import protocol as tp
from .frames import TwilioMarkEchoFrame, TwilioMarkRequestFrame, TwilioStopFrame
from .rest import TwilioCallControl, TwilioCallUpdate
from .stats import TwilioStreamStats
from .tap import WireTap

__all__ = ["TwilioCallUpdate", "TwilioMediaStreamSerializer", "TwilioStreamStats"]


class TwilioMediaStreamSerializer(TwilioCallControl):
    """Serializer for Twilio bidirectional Media Streams, μ-law exact at 8000 Hz.

    Outbound: ``OutputAudioRawFrame`` (PCM16, 8000 Hz) → ``media``;
    ``InterruptionFrame`` → ``clear``; :class:`~pipecat_twilio_realtime.twilio.frames.TwilioMarkRequestFrame`
    (or an ``OutputTransportMessageFrame`` carrying ``{"event": "mark", "mark": {"name": ...}}``)
    → ``mark``; ``EndFrame``/``CancelFrame`` → hang-up through the Twilio REST API when
    credentials are given.

    Inbound: ``media`` → ``InputAudioRawFrame`` (PCM16, 8000 Hz); ``dtmf`` → ``InputDTMFFrame``;
    ``mark`` → :class:`~pipecat_twilio_realtime.twilio.frames.TwilioMarkEchoFrame`; ``start`` records the
    stream; ``stop`` → :class:`~pipecat_twilio_realtime.twilio.frames.TwilioStopFrame`. Unusable input is
    logged (the first time per kind at warning level) and dropped; the call goes on.
    """

    class InputParams(FrameSerializer.InputParams):
        """Configuration parameters for TwilioMediaStreamSerializer.

        Parameters:
            auto_hang_up: Hang up the call through the Twilio REST API on ``EndFrame`` or
                ``CancelFrame``. Needs ``call_sid``, ``account_sid`` and ``auth_token``; with
                none of them given it is skipped.
            max_message_bytes: Largest inbound message accepted; bigger ones are dropped.
            max_inbound_rate: Inbound audio accepted, as a multiple of real time (8000 μ-law bytes/s),
                sustained; media beyond it is dropped and counted (``stats.rate_dropped``). Twilio
                sends in real time, so 2x leaves room for network catch-up; 0 disables the bound.
            inbound_burst_ms: Audio (ms of real time) that may arrive at once on top of the rate,
                e.g. Twilio catching up after a network stall.
            inbound_frame_ms: Caller audio per pipeline frame, a multiple of Twilio's 20 ms. 20 pushes
                each ``media`` message as it arrives; 40 or 60 join 2 or 3 of them into one
                ``InputAudioRawFrame`` (fewer pushes per call-second, less CPU) and hold the oldest
                sample up to ``inbound_frame_ms - 20`` ms. ``dtmf`` and ``mark`` pass at once and the
                batch goes on filling, so no audio is dropped; at ``stop`` the partial batch rides on
                the ``TwilioStopFrame`` (``tail_audio``, counted in ``stats.stop_tail_bytes``).
        """

        auto_hang_up: bool = True
        max_message_bytes: int = tp.MAX_MESSAGE_BYTES
        max_inbound_rate: float = 2.0
        inbound_burst_ms: int = 2000
        inbound_frame_ms: int = 20

    def __init__(
        self,
        stream_sid: str | None = None,
        call_sid: str | None = None,
        account_sid: str | None = None,
        auth_token: str | None = None,
        params: InputParams | None = None,
        *,
        twilio_client: Any | None = None,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        """Initialize the serializer.

        Args:
            stream_sid: The stream SID, when the application already read Twilio's ``start``
                message (e.g. with ``parse_telephony_websocket``); otherwise it is learnt from
                ``start`` and outbound audio before it is dropped.
            call_sid: The call to hang up. Take it from the signed webhook or handshake,
                not from the unauthenticated ``start`` message.
            account_sid: Twilio account SID, for hang-up.
            auth_token: Twilio auth token, for hang-up. Never logged.
            params: Configuration parameters.
            twilio_client: A ready ``twilio.rest.Client`` (built with
                ``AsyncTwilioHttpClient``) to use for hang-up instead of building one.
            clock: Monotonic clock in seconds for the inbound rate bound and the activity time
                (inject one in tests).
            **kwargs: Passed to ``FrameSerializer`` (e.g. ``name``).

        Raises:
            ValueError: If hang-up credentials are given only in part, or a limit is out of range
                (the message names the field).
        """
        params = params or TwilioMediaStreamSerializer.InputParams()
        super().__init__(params, **kwargs)
        self._params: TwilioMediaStreamSerializer.InputParams = params
        if params.max_message_bytes <= 0:
            raise ValueError("max_message_bytes must be positive")
        if not params.max_inbound_rate >= 0 or params.max_inbound_rate == float("inf"):
            raise ValueError(
                f"max_inbound_rate must be 0 (off) or a positive multiple, got {params.max_inbound_rate!r}"
            )
        if params.inbound_burst_ms < 0:
            raise ValueError(f"inbound_burst_ms must not be negative, got {params.inbound_burst_ms!r}")
        if params.inbound_frame_ms < 20 or params.inbound_frame_ms % 20:
            raise ValueError(
                f"inbound_frame_ms must be a multiple of Twilio's 20 ms, got {params.inbound_frame_ms!r}"
            )

        self._hang_up_enabled = False
        if params.auto_hang_up:
            given = {"call_sid": call_sid, "account_sid": account_sid}
            if twilio_client is None:
                given["auth_token"] = auth_token
            missing = [k for k, v in given.items() if not v]
            if len(missing) < len(given):
                if missing:
                    raise ValueError(
                        "auto_hang_up needs call_sid, account_sid and auth_token; "
                        f"missing: {', '.join(missing)}"
                    )
                self._hang_up_enabled = True

        self._stream_sid = stream_sid
        self._call_sid = call_sid
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._twilio_client = twilio_client
        self._hangup_attempted = False
        self._stopped = False

        self._start: tp.Start | None = None
        self._sequence = tp.SequenceTracker()
        self._stats = TwilioStreamStats()
        self._mark_index = 0
        self._pending_marks: dict[str, tuple[str, int]] = {}
        self._played_by = 0.0  # clock time when Twilio has played all audio sent (line rate, no delay)
        self._flushed_marks: dict[str, tuple[str, int]] = {}
        self._warn_once = WarnOnce(self)

        self._clock = clock
        self._last_activity = clock()
        self._last_media: float | None = None
        self._stream_ms: int | None = None  # the latest inbound media's timestamp: Twilio's stream clock
        # Token bucket in μ-law bytes: refills at max_inbound_rate x 8000 B/s, holds the burst on top.
        self._refill_per_s = params.max_inbound_rate * g711.SAMPLE_RATE
        self._bucket_capacity = self._refill_per_s + params.inbound_burst_ms * g711.SAMPLE_RATE / 1000
        self._bucket = self._bucket_capacity
        self._bucket_at = self._last_activity
        # Inbound batching: μ-law of the media messages not yet pushed as one frame.
        self._in_batch = bytearray()
        self._in_batch_bytes = params.inbound_frame_ms * g711.SAMPLE_RATE // 1000
        # Observer hook (MediaStatsObserver): told each outbound chunk's μ-law and the call's end.
        self._media_listener: Callable[[bytes], Awaitable[None]] | None = None
        self._end_listener: Callable[[], Awaitable[None]] | None = None
        self._mark_listener: Callable[[str, int], None] | None = None
        self._echo_listener: Callable[[str, bool], None] | None = None
        self._clear_listener: Callable[[], None] | None = None
        self._last_ulaw = b""
        self._tap: WireTap | None = None  # a call recorder (observe.recording), told of each wire event

    # ------------------------------------------------------------------ public state

    @property
    def stats(self) -> TwilioStreamStats:
        """Live counters of what crossed the socket."""
        return self._stats

    @property
    def stream_sid(self) -> str | None:
        """The stream SID, once known."""
        return self._stream_sid

    @property
    def start_event(self) -> tp.Start | None:
        """Twilio's ``start`` message, when it reached this serializer."""
        return self._start

    @property
    def last_media_monotonic(self) -> float | None:
        """The clock's value when the last ``media`` message arrived (``None`` before the first)."""
        return self._last_media

    @property
    def last_activity_monotonic(self) -> float:
        """The clock's value at the last ``media`` or ``start`` (at construction before either)."""
        return self._last_activity

    @property
    def clock(self) -> Callable[[], float]:
        """The monotonic clock this serializer stamps activity with."""
        return self._clock

    @property
    def custom_parameters(self) -> dict[str, str]:
        """The ``<Parameter>`` values from ``start`` (empty before it)."""
        return dict(self._start.custom_parameters) if self._start else {}

    def set_listeners(
        self,
        *,
        on_media_sent: Callable[[bytes], Awaitable[None]] | None = None,
        on_end: Callable[[], Awaitable[None]] | None = None,
        on_mark_sent: Callable[[str, int], None] | None = None,
        on_mark_echo: Callable[[str, bool], None] | None = None,
        on_clear: Callable[[], None] | None = None,
    ) -> None:
        """Hook an observer onto the wire (one of each; ``MediaStatsObserver`` sets them itself).

        Args:
            on_media_sent: Awaited with the μ-law of each outbound ``media`` message, as sent (so an
                observer need not encode the audio again).
            on_end: Awaited when ``EndFrame``/``CancelFrame`` reaches the serializer: the output
                transport has written its last audio, so the wire totals are final.
            on_mark_sent: Called with each outbound mark's wire name and the μ-law bytes sent before it.
            on_mark_echo: Called with each echo of one of our marks: its name and whether it was played
                (``False``: a ``clear`` flushed it).
            on_clear: Called when a ``clear`` is sent.
        """
        self._media_listener = on_media_sent
        self._end_listener = on_end
        self._mark_listener, self._echo_listener = on_mark_sent, on_mark_echo
        self._clear_listener = on_clear

    def set_wire_tap(self, tap: WireTap | None) -> None:
        """Tell ``tap`` of each media, ``clear``, mark and ``stop`` as it crosses the socket (``None``: stop).

        Args:
            tap: The tap (e.g. :class:`~pipecat_twilio_realtime.observe.recording.CallRecorder`).
        """
        self._tap = tap

    # ------------------------------------------------------------------ setup

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        """Check that the pipeline runs at 8000 Hz both ways (called by input and output side).

        Args:
            setup: The pipeline-level setup.

        Raises:
            ValueError: If either pipeline rate is not 8000 Hz.
        """
        rates = {
            "audio_in_sample_rate": setup.audio_in_sample_rate,
            "audio_out_sample_rate": setup.audio_out_sample_rate,
        }
        wrong = {k: v for k, v in rates.items() if v and v != g711.SAMPLE_RATE}
        if wrong:
            shown = ", ".join(f"{k}={v}" for k, v in wrong.items())
            raise ValueError(
                f"{self}: Twilio audio is 8000 Hz μ-law and this serializer never resamples, "
                f"but the pipeline runs at {shown}. Use {g711.PIPELINE_RATE_HINT}."
            )

    # ------------------------------------------------------------------ outbound

    async def serialize(self, frame: Frame) -> str | bytes | None:
        """Turn one frame into at most one Twilio message.

        Args:
            frame: The frame from the output transport.

        Returns:
            The JSON text to send, or ``None`` when nothing is sent for this frame.
        """
        if isinstance(frame, (EndFrame, CancelFrame)):
            self._count_unsent_tail()
            if self._hang_up_enabled and not self._hangup_attempted and not self._stopped:
                self._hangup_attempted = True
                await self._hang_up(frame.reason)
            if self._end_listener is not None:
                await self._end_listener()
            return None
        if isinstance(frame, InterruptionFrame):
            return self._clear()
        if isinstance(frame, AudioRawFrame):
            message = self._media(frame)
            if message is not None and self._media_listener is not None:
                await self._media_listener(self._last_ulaw)
            return message
        if isinstance(frame, (OutputTransportMessageFrame, OutputTransportMessageUrgentFrame)):
            # Pipecat's check reads ``message.get``: only a dict can be an RTVI message.
            if isinstance(frame.message, dict) and self.should_ignore_frame(frame):
                return None
            return self._transport_message(frame)
        return None

    def _count_unsent_tail(self) -> None:
        """A partial inbound batch left when the call ends without ``stop`` is counted and named once."""
        if not self._in_batch or self._stopped:
            return
        held, self._in_batch = len(self._in_batch), bytearray()
        self._stats.unsent_tail_bytes += held
        logger.warning(
            f"{self} {held} B of the caller's last audio (under one {self._in_batch_bytes // 8} ms frame) "
            "not sent to the pipeline: the call ended without Twilio's stop (the socket closed)"
        )

    def _outbound_ready(self, what: str) -> str | None:
        if self._stopped:
            self._stats.outbound_dropped += 1
            return None
        if self._stream_sid is None:
            self._stats.outbound_dropped += 1
            self._warn_once(
                "no_stream", f"dropped outbound {what}: no streamSid yet (Twilio's 'start' not seen)"
            )
            return None
        return self._stream_sid

    def _media(self, frame: AudioRawFrame) -> str | None:
        problem = g711.wrong_format(frame.sample_rate, frame.num_channels)
        if problem is not None:
            self._stats.outbound_dropped += 1
            self._warn_once("wrong_rate", f"dropped outbound audio for Twilio: {problem}")
            return None
        if not frame.audio:
            return None
        sid = self._outbound_ready("audio")
        if sid is None:
            return None
        try:
            ulaw = g711.encode(frame.audio)
        except ValueError as e:
            self._stats.outbound_dropped += 1
            self._warn_once("odd_pcm", f"dropped outbound audio: {e}")
            return None
        self._stats.media_sent += 1
        self._stats.ulaw_bytes_sent += len(ulaw)
        self._played_by = max(self._played_by, self._clock()) + len(ulaw) / g711.SAMPLE_RATE
        self._last_ulaw = ulaw
        if self._tap is not None:
            self._tap.outbound_media(ulaw, self._clock())
        return tp.build_media(sid, ulaw)

    def _clear(self) -> str | None:
        sid = self._outbound_ready("clear")
        if sid is None:
            return None
        self._stats.clears_sent += 1
        if not self._pending_marks and self._played_by <= self._clock():
            self._stats.clears_idle += 1
        self._played_by = 0.0
        # Twilio echoes every pending mark at once after a clear: those were flushed, not played.
        self._flushed_marks.update(self._pending_marks)
        self._pending_marks.clear()
        if self._clear_listener is not None:
            self._clear_listener()
        if self._tap is not None:
            self._tap.clear_sent(self._clock())
        return tp.build_clear(sid)

    def _transport_message(
        self, frame: OutputTransportMessageFrame | OutputTransportMessageUrgentFrame
    ) -> str | None:
        message = frame.message
        event = message.get("event") if isinstance(message, dict) else None
        if isinstance(frame, TwilioMarkRequestFrame) or event == "mark":
            label = frame.label if isinstance(frame, TwilioMarkRequestFrame) else None
            if label is None:
                mark = message.get("mark") if isinstance(message, dict) else None
                label = str(mark.get("name", "mark")) if isinstance(mark, dict) else "mark"
            return self._mark(label)
        if event == "clear":
            return self._clear()
        self._stats.outbound_dropped += 1
        self._warn_once(
            "bad_outbound",
            f"dropped an outbound transport message with event {event!r}: a Twilio stream accepts "
            "only media, mark and clear (anything else is rejected with error 31951)",
        )
        return None

    def _mark(self, label: str) -> str | None:
        sid = self._outbound_ready("mark")
        if sid is None:
            return None
        self._mark_index += 1
        sent = self._stats.ulaw_bytes_sent
        name = f"{label}:{self._mark_index}:{sent}"
        self._pending_marks[name] = (label, sent)
        self._stats.marks_sent += 1
        if self._mark_listener is not None:
            self._mark_listener(name, sent)
        if self._tap is not None:
            self._tap.mark_sent(name, sent, self._clock())
        return tp.build_mark(sid, name)

    # ------------------------------------------------------------------ inbound

    async def deserialize(self, data: str | bytes) -> Frame | None:
        """Turn one Twilio message into a frame (or ``None``).

        Args:
            data: The websocket message.

        Returns:
            The frame to push into the pipeline, or ``None``.
        """
        try:
            event = tp.parse_message(data, max_bytes=self._params.max_message_bytes)
        except tp.TwilioProtocolError as e:
            self._stats.malformed_dropped += 1
            self._warn_once(f"in:{e.reason}", f"dropped a Twilio message: {q(str(e), 120)}")
            logger.debug(f"{self} dropped message starts {data[:60]!r}")
            return None

        if isinstance(event, tp.Connected):
            return None
        self._observe_sequence(event.sequence_number)
        if isinstance(event, tp.Media):
            return self._on_media(event)
        if isinstance(event, tp.Mark):
            return self._on_mark(event)
        if isinstance(event, tp.Dtmf):
            self._stats.dtmf_received += 1
            return InputDTMFFrame(KeypadEntry(event.digit)) if event.digit in _KEYPAD else None
        if isinstance(event, tp.Start):
            self._on_start(event)
            return None
        if isinstance(event, tp.Stop):
            self._stopped = True
            if self._tap is not None:
                self._tap.stream_stopped(self._clock())
            tail, self._in_batch = bytes(self._in_batch), bytearray()
            self._stats.stop_tail_bytes += len(tail)
            logger.info(f"{self} Twilio stream {q(event.stream_sid)} stopped")
            return TwilioStopFrame(
                call_sid=event.call_sid, reason="twilio stop", tail_audio=g711.decode(tail)
            )
        return None  # pragma: no cover - every event type is handled above

    def _observe_sequence(self, number: int) -> None:
        skipped = self._sequence.observe(number)
        if skipped > 0:
            self._stats.sequence_gaps += 1
            self._stats.sequence_missing += skipped
            logger.debug(f"{self} sequenceNumber skipped {skipped} before {number}")
        elif skipped < 0:
            self._stats.sequence_out_of_order += 1
            logger.debug(f"{self} sequenceNumber {number} is a duplicate or out of order")

    def _on_start(self, event: tp.Start) -> None:
        if self._stream_sid and self._stream_sid != event.stream_sid:
            self._warn_once(
                "sid_mismatch",
                f"'start' names stream {q(event.stream_sid)} "
                f"but this serializer was built for {q(self._stream_sid)}",
            )
        self._start = event
        self._stream_sid = self._stream_sid or event.stream_sid
        self._last_activity = self._clock()
        tracks = ",".join(q(t, 16) for t in event.tracks[:4])
        logger.info(f"{self} Twilio stream {q(event.stream_sid)} started, tracks={tracks}")

    def _within_rate(self, size: int) -> bool:
        """Take ``size`` bytes from the token bucket; ``False`` when media arrives too fast.

        Each message costs at least 10 ms of audio, so a flood of tiny payloads is bounded too.
        """
        size = max(size, _MIN_MEDIA_CHARGE)
        now = self._clock()
        self._last_activity = self._last_media = now
        if self._refill_per_s <= 0:
            return True
        elapsed = max(0.0, now - self._bucket_at)
        self._bucket = min(self._bucket_capacity, self._bucket + elapsed * self._refill_per_s)
        self._bucket_at = now
        if size > self._bucket:
            return False
        self._bucket -= size
        return True

    def _on_media(self, event: tp.Media) -> Frame | None:
        if not self._within_rate(len(event.payload)):
            self._stats.rate_dropped += 1
            self._warn_once(
                "rate",
                f"dropping inbound media: it arrives faster than {self._params.max_inbound_rate:g}x "
                "real time (Twilio sends in real time; a flood is not a caller)",
            )
            return None
        self._stats.media_received += 1
        self._stats.ulaw_bytes_received += len(event.payload)
        if event.timestamp_ms is not None:
            self._stream_ms = event.timestamp_ms
        payload = event.payload
        if self._tap is not None:
            self._tap.inbound_media(payload, self._last_activity)
        if self._in_batch_bytes > _TWILIO_FRAME_BYTES:  # batching: one frame per inbound_frame_ms
            self._in_batch += payload
            if len(self._in_batch) < self._in_batch_bytes:
                return None
            payload, self._in_batch = bytes(self._in_batch), bytearray()
        self._stats.audio_frames_in += 1
        return InputAudioRawFrame(audio=g711.decode(payload), sample_rate=g711.SAMPLE_RATE, num_channels=1)

    def _on_mark(self, event: tp.Mark) -> Frame:
        echo = self._mark_echo(event.name)
        if self._tap is not None:
            self._tap.mark_echoed(echo.mark_name, echo.ulaw_bytes_sent, echo.played, self._clock())
        return echo

    def _mark_echo(self, name: str) -> TwilioMarkEchoFrame:
        if name in self._pending_marks:
            label, sent = self._pending_marks[name]
            # Marks echo in order: any still pending before this one was sent earlier and is done too.
            for earlier in list(self._pending_marks):
                del self._pending_marks[earlier]
                if earlier == name:
                    break
            self._stats.marks_played += 1
            if self._echo_listener is not None:
                self._echo_listener(name, True)
            return TwilioMarkEchoFrame(
                mark_name=name, label=label, ulaw_bytes_sent=sent, played=True, stream_ms=self._stream_ms
            )
        if name in self._flushed_marks:
            label, sent = self._flushed_marks.pop(name)
            self._stats.marks_flushed += 1
            if self._echo_listener is not None:
                self._echo_listener(name, False)
            return TwilioMarkEchoFrame(
                mark_name=name, label=label, ulaw_bytes_sent=sent, played=False, stream_ms=self._stream_ms
            )
        self._warn_once("unknown_mark", f"Twilio echoed a mark this serializer did not send: {q(name, 40)}")
        return TwilioMarkEchoFrame(mark_name=name, label=name, ulaw_bytes_sent=None, played=True)


_KEYPAD = {k.value for k in KeypadEntry}
_MIN_MEDIA_CHARGE = g711.SAMPLE_RATE // 100  # 10 ms; Twilio's inbound chunks are 20 ms (160 bytes)
_TWILIO_FRAME_BYTES = g711.SAMPLE_RATE // 50  # 20 ms
