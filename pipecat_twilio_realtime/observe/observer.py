"""``MediaStatsObserver``: per-call media stats, tx/rx totals, barge-in timing and a noise alarm.

Attach it to the worker::

    observer = MediaStatsObserver(serializer=serializer, service=llm)
    worker = PipelineWorker(pipeline, params=..., observers=[observer])

Log lines carry the stream SID so one call can be grepped out of a busy server (it comes from the wire:
a real SID is written bare, anything else quoted and escaped, so no SID can forge a log line):

* ``TX stream=… bytes=… head=…`` (DEBUG, one per outbound frame when ``log_frames`` is on): the first
  10 μ-law bytes in base64 — a quick "is this μ-law?" look;
* ``STATS stream=… rx=… tx=… … lead_ms=… dry=N/…ms`` (INFO, every ``stats_interval_s``);
* ``BOT stream=… "…"`` (INFO): what the assistant said, one line per reply;
* ``NOISE stream=… reason=…`` (ERROR, once per reason): outbound audio that cannot be speech;
* ``DRY stream=… …`` (WARNING, one per dry period): mark echoes show Twilio's buffer ran dry inside bot
  speech, i.e. the caller heard silence (:mod:`pipecat_twilio_realtime.observe.twilio_buffer`);
* ``WS_STOP stream=… rx=… tx=… … lead_min_ms=… dry=N/…ms tokens=IN/OUT cost=$…`` (INFO): one summary line
  when the call ends.

Wire totals come from the serializer's counters (``tx`` is μ-law handed to Twilio), not from guesses.
"""

from __future__ import annotations

import base64
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    FunctionCallInProgressFrame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    OutputAudioRawFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pydantic import BaseModel

from .. import g711
from .._logsafe import quote_for_log
from ..twilio.frames import TwilioStopFrame
from ..twilio.serializer import TwilioMediaStreamSerializer
from .callrecord import CallRecording
from .noise import NoiseDetector, NoiseFinding
from .tokens import summary_tokens, tokens_log_fields
from .twilio_buffer import DryPeriod, TwilioBufferEstimator

__all__ = ["CallStats", "MediaStatsObserver"]

try:  # proposed-turn frames exist in Pipecat 1.14; stay importable if they move
    from pipecat.frames.frames import ProposedUserStartedSpeakingFrame, ProposedUserStoppedSpeakingFrame

    _SPEECH_START: tuple[type, ...] = (UserStartedSpeakingFrame, ProposedUserStartedSpeakingFrame)
    _SPEECH_STOP: tuple[type, ...] = (UserStoppedSpeakingFrame, ProposedUserStoppedSpeakingFrame)
except ImportError:  # pragma: no cover
    _SPEECH_START, _SPEECH_STOP = (UserStartedSpeakingFrame,), (UserStoppedSpeakingFrame,)

_LEVEL_HINT = (
    "phone-line noise floors are a few hundred at most; energy-gate thresholds of 150-250 are a sane "
    "start, 800+ is too deaf"
)


@dataclass
class CallStats:
    """Everything the observer knows about one call (a plain object, for exporters).

    Parameters:
        stream_sid: The Twilio stream SID (once known).
        rx_frames: Caller audio frames that entered the pipeline.
        rx_bytes: μ-law bytes received from Twilio (serializer count).
        tx_frames: Bot audio chunks the output transport wrote to Twilio (one ``media`` message each).
        tx_bytes: μ-law bytes handed to Twilio (serializer count).
        marks_sent: Marks sent. marks_played / marks_flushed: their echoes.
        marks_played: Mark echoes for audio that played.
        marks_flushed: Mark echoes for audio flushed by a ``clear``.
        clears: ``clear`` messages sent (every interruption sends one, even with nothing playing).
        idle_clears: Of those, the ones sent while nothing was queued at Twilio: they cut nothing the
            caller heard and are not barge-ins (``clears - idle_clears`` cut audio).
        malformed: Inbound Twilio messages dropped as unusable.
        sequence_gaps: Gaps in Twilio's ``sequenceNumber``.
        bot_turns: Times the bot started speaking.
        barge_ins: Times the caller talked over the bot.
        barge_in_latency_ms: Per barge-in: caller speech start → interruption (``clear``) sent.
        first_reply_ms: Per turn: caller stopped speaking → first reply audio frame.
        noise: Confirmed noise findings, by reason.
        caller_floor_rms: 10th percentile of the caller's 20 ms frame RMS (PCM16 units).
        caller_speech_rms: 90th percentile of the same.
        twilio_lead_min_ms: Least audio sent but not yet played while the bot spoke, estimated from mark
            echoes (``None``: no played echo came back).
        twilio_lead_median_ms: Median of the same.
        twilio_dry_count: Times Twilio's buffer ran dry inside bot speech (the caller heard silence).
        twilio_dry_ms: Their total length in ms.
        started_at: The time source's value at the first frame.
        duration_s: Seconds from the first frame to the summary.
    """

    stream_sid: str = ""
    rx_frames: int = 0
    rx_bytes: int = 0
    tx_frames: int = 0
    tx_bytes: int = 0
    marks_sent: int = 0
    marks_played: int = 0
    marks_flushed: int = 0
    clears: int = 0
    idle_clears: int = 0
    malformed: int = 0
    sequence_gaps: int = 0
    bot_turns: int = 0
    barge_ins: int = 0
    barge_in_latency_ms: list[float] = field(default_factory=list)
    first_reply_ms: list[float] = field(default_factory=list)
    noise: dict[str, int] = field(default_factory=dict)
    caller_floor_rms: float | None = None
    caller_speech_rms: float | None = None
    twilio_lead_min_ms: float | None = None
    twilio_lead_median_ms: float | None = None
    twilio_dry_count: int = 0
    twilio_dry_ms: float = 0.0
    started_at: float | None = None
    duration_s: float = 0.0

    @property
    def rx_seconds(self) -> float:
        """Seconds of caller audio received."""
        return self.rx_bytes / g711.SAMPLE_RATE

    @property
    def tx_seconds(self) -> float:
        """Seconds of bot audio handed to Twilio."""
        return self.tx_bytes / g711.SAMPLE_RATE

    def as_dict(self) -> dict[str, Any]:
        """The stats as a plain dict (with ``rx_seconds``/``tx_seconds``)."""
        out = asdict(self)
        out["rx_seconds"] = round(self.rx_seconds, 3)
        out["tx_seconds"] = round(self.tx_seconds, 3)
        return out


class MediaStatsObserver(BaseObserver):
    """Per-call media stats, tx/rx totals, barge-in latency and a noise alarm for Twilio calls.

    Event handlers: ``on_call_summary(observer, summary: dict)`` once when the call ends,
    ``on_noise_detected(observer, finding: NoiseFinding)`` once per noise reason, and with ``record`` on,
    ``on_recording(observer, wav: Path | None, call_info: dict)`` once the recording and timeline are
    finished (before ``on_call_summary``; see :mod:`.callrecord`).
    """

    class InputParams(BaseModel):
        """Configuration parameters for MediaStatsObserver.

        Parameters:
            stats_interval_s: Seconds between INFO stats lines (0 disables them).
            noise_alarm: Check outbound audio for noise (decodes it in 200 ms windows).
            caller_levels: Track the caller's noise floor and speech level (RMS per frame).
            log_frames: Log one DEBUG line per outbound frame (first 10 μ-law bytes, base64).
            log_transcripts: Log what the assistant said, one INFO line per reply.
            dry_tolerance_ms: Twilio buffer estimate: silences shorter than this (added up) are echo
                timing noise, not a dry buffer.
            record: Record the call: a stereo WAV (caller left, the bot as heard right) and a timeline
                (JSON + HTML page), handed to ``on_recording`` when the call ends. Needs the serializer.
            record_dir: Write them into this directory as ``<stream_sid>.wav``,
                ``<stream_sid>.timeline.json`` and ``<stream_sid>.timeline.html`` (implies ``record``).
            record_audio: With ``record``, record the audio too (``False``: only the timeline).
        """

        stats_interval_s: float = 30.0
        noise_alarm: bool = True
        caller_levels: bool = True
        log_frames: bool = False
        log_transcripts: bool = True
        dry_tolerance_ms: float = TwilioBufferEstimator.TOLERANCE_MS
        record: bool = False
        record_dir: str | None = None
        record_audio: bool = True

    def __init__(
        self,
        *,
        serializer: TwilioMediaStreamSerializer | None = None,
        service: Any = None,
        params: InputParams | None = None,
        time_source: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        """Initialize the observer.

        Args:
            serializer: The call's serializer: the source of the wire totals and the stream SID. ``None``
                finds it on the transport (``_params.serializer``) of the first frame pushed.
            service: The call's Realtime service (its ``stats`` are added to the summary). ``None`` finds
                an ``OpenAIRealtimeMuLawLLMService`` among the processors pushing frames.
            params: Configuration parameters.
            time_source: Monotonic clock in seconds (inject one in tests).
            **kwargs: Passed to ``BaseObserver``.
        """
        # Each frame once (its first push): a 20 ms call pushes ~500 frames a second, most of them
        # frames passed along, and every push an observer takes costs a queue put and a task switch.
        super().__init__(observe_every_push=False, **kwargs)
        self._params = params or MediaStatsObserver.InputParams()
        self._serializer = serializer
        self._service = service
        self._now = time_source
        self._stats = CallStats()
        self._noise = NoiseDetector() if self._params.noise_alarm else None
        self._levels: deque[float] = deque(maxlen=15_000)  # 5 minutes of 20 ms frames
        self._bot_speaking = False
        self._barged_in = False
        self._speech_started_at: float | None = None
        self._speech_stopped_at: float | None = None
        self._next_stats_at: float | None = None
        self._transcript: list[str] = []
        self._new_chunk = True
        self._summarised = False
        self._buffer = TwilioBufferEstimator(tolerance_ms=self._params.dry_tolerance_ms)
        self._created_at = time_source()
        self._register_event_handler("on_call_summary")
        self._register_event_handler("on_noise_detected")
        self._register_event_handler("on_recording")
        self._record: CallRecording | None = None
        if self._params.record or self._params.record_dir:
            record_dir = Path(self._params.record_dir) if self._params.record_dir else None
            self._record = CallRecording(record_dir=record_dir, audio=self._params.record_audio)
            if service is not None:
                self._watch_reconnects(service)
        if serializer is not None:  # the wire tells us what was sent, and when the call's audio is over
            self._listen(serializer)

    # ------------------------------------------------------------------ public

    @property
    def stats(self) -> CallStats:
        """The live stats (wire totals refreshed from the serializer)."""
        self._refresh_wire()
        return self._stats

    async def finish(self) -> dict[str, Any]:
        """Write the ``WS_STOP`` summary now (once) and return it; called by itself at call end."""
        self._refresh_wire()
        stats = self._stats
        if stats.started_at is not None:
            stats.duration_s = self._now() - stats.started_at
        self._update_levels()
        self._on_dry(self._buffer.finish(self._now()))
        buffer = self._buffer.summary()
        stats.twilio_lead_min_ms, stats.twilio_lead_median_ms = buffer.lead_min_ms, buffer.lead_median_ms
        stats.twilio_dry_count, stats.twilio_dry_ms = buffer.dry_count, buffer.dry_ms
        summary = stats.as_dict()
        if self._service is not None and hasattr(self._service, "stats"):
            service_stats = self._service.stats
            summary["realtime"] = (
                service_stats.as_dict() if hasattr(service_stats, "as_dict") else service_stats
            )
        summary.update(summary_tokens(summary.get("realtime")))  # tokens, cost_usd
        if self._summarised:
            return summary
        self._summarised = True
        if self._record is not None:
            await self._finish_recording(summary)
        noise = ",".join(f"{k}:{v}" for k, v in stats.noise.items()) or "none"
        latency = _median(stats.barge_in_latency_ms)
        logger.info(
            f"WS_STOP stream={self._sid()} rx={stats.rx_bytes} tx={stats.tx_bytes} "
            f"rx_s={stats.rx_seconds:.2f} tx_s={stats.tx_seconds:.2f} rx_frames={stats.rx_frames} "
            f"tx_frames={stats.tx_frames} "
            f"marks={stats.marks_sent}/{stats.marks_played}/{stats.marks_flushed} "
            f"clears={stats.clears} malformed={stats.malformed} gaps={stats.sequence_gaps} "
            f"bot_turns={stats.bot_turns} barge_ins={stats.barge_ins} idle_clears={stats.idle_clears} "
            f"barge_in_ms={_fmt(latency)} first_reply_ms={_fmt(_median(stats.first_reply_ms))} "
            f"caller_floor={_fmt(stats.caller_floor_rms)} caller_speech={_fmt(stats.caller_speech_rms)} "
            f"noise={noise} lead_min_ms={_fmt(stats.twilio_lead_min_ms)} "
            f"dry={stats.twilio_dry_count}/{stats.twilio_dry_ms:.0f}ms {tokens_log_fields(summary)}"
        )
        if stats.caller_floor_rms is not None and stats.caller_floor_rms > 400:
            logger.warning(f"{self} stream={self._sid()} loud caller noise floor: {_LEVEL_HINT}")
        await self._call_event_handler("on_call_summary", summary)
        return summary

    async def _finish_recording(self, summary: dict[str, Any]) -> None:
        assert self._record is not None
        if not self._record.attached:
            logger.warning(f"{self} cannot record: no TwilioMediaStreamSerializer reached the observer")
        call = self._record.finish(self._stats.stream_sid, summary)
        summary["recording"] = {
            k: call[k] and str(call[k]) for k in ("wav", "timeline_json", "timeline_html")
        }
        await self._call_event_handler("on_recording", call["wav"], call)

    def _watch_reconnects(self, service: Any) -> None:
        if "on_session_reconnected" in getattr(service, "_event_handlers", {}):
            record = self._record

            async def on_reconnected(_service: Any, reason: str) -> None:
                if record is not None:
                    record.event("reconnect", reason=str(reason)[:200])

            service.add_event_handler("on_session_reconnected", on_reconnected)

    # ------------------------------------------------------------------ frames

    async def cleanup(self) -> None:
        """Write the summary if the call ended without the serializer seeing its end (socket gone)."""
        await super().cleanup()
        if not self._summarised:
            await self.finish()

    async def _on_wire_end(self) -> None:
        """The serializer got ``EndFrame``/``CancelFrame``: the last audio is written, totals are final."""
        if not self._summarised:
            await self.finish()

    async def _on_wire_media(self, ulaw: bytes) -> None:
        """One outbound ``media`` message, as the serializer put it on the wire."""
        now = self._now()
        self._on_dry(self._buffer.media_sent(len(ulaw), now))
        await self._on_output_ulaw(ulaw, now)

    def _on_wire_mark(self, name: str, position: int) -> None:
        self._on_dry(self._buffer.mark_sent(name, position, self._now()))

    def _on_wire_echo(self, name: str, played: bool) -> None:
        if played:
            self._on_dry(self._buffer.mark_echoed(name, self._now()))

    def _on_wire_clear(self) -> None:
        self._on_dry(self._buffer.clear_sent(self._now()))

    def _listen(self, serializer: TwilioMediaStreamSerializer) -> None:
        serializer.set_listeners(
            on_media_sent=self._on_wire_media,
            on_end=self._on_wire_end,
            on_mark_sent=self._on_wire_mark,
            on_mark_echo=self._on_wire_echo,
            on_clear=self._on_wire_clear,
        )
        if self._record is not None:
            self._record.attach(serializer)

    def _on_dry(self, periods: list[DryPeriod]) -> None:
        started = self._stats.started_at if self._stats.started_at is not None else self._created_at
        for dry in periods:
            logger.warning(
                f"DRY stream={self._sid()} Twilio's buffer ran dry for {dry.ms:.0f} ms at "
                f"{dry.at - started:.1f} s: the caller heard silence inside bot speech"
            )

    def _discover(self, processor: object) -> None:
        """Take the serializer and Realtime service from the processors pushing frames, if not given."""
        from ..realtime.service import OpenAIRealtimeMuLawLLMService

        if self._service is None and isinstance(processor, OpenAIRealtimeMuLawLLMService):
            self._service = processor
            if self._record is not None:
                self._watch_reconnects(processor)
            logger.debug(f"{self} found the Realtime service {processor}")
        if self._serializer is None and isinstance(processor, (BaseInputTransport, BaseOutputTransport)):
            serializer = getattr(getattr(processor, "_params", None), "serializer", None)
            if isinstance(serializer, TwilioMediaStreamSerializer):
                self._serializer = serializer
                self._listen(serializer)
                logger.debug(f"{self} found the serializer {serializer}")

    async def on_push_frame(self, data: FramePushed) -> None:
        """Look at one frame, at its first push.

        With a serializer, outbound audio and the call's end come from it (:meth:`_on_wire_media`,
        :meth:`_on_wire_end`); without one, from the output transport's chunks and the worker's cleanup.

        Args:
            data: The push.
        """
        if self._serializer is None or self._service is None:
            self._discover(data.source)
            self._discover(data.destination)
        frame = data.frame
        if isinstance(frame, (EndFrame, CancelFrame)) or not data.first_push:
            return
        now = self._now()
        if self._stats.started_at is None:
            self._stats.started_at = now
            if self._params.stats_interval_s > 0:
                self._next_stats_at = now + self._params.stats_interval_s
        downstream = data.direction == FrameDirection.DOWNSTREAM
        if self._record is not None and (downstream or isinstance(frame, FunctionCallInProgressFrame)):
            speech = True if isinstance(frame, _SPEECH_START) else None
            speech = False if isinstance(frame, _SPEECH_STOP) else speech
            if speech is not None or isinstance(frame, (FunctionCallInProgressFrame, InputDTMFFrame)):
                self._record.on_frame(frame, speech)

        if isinstance(frame, InputAudioRawFrame):
            self._stats.rx_frames += 1  # replaced by the serializer's count of media messages
            if self._params.caller_levels and frame.audio:
                self._levels.append(g711.rms(frame.audio))
        elif isinstance(frame, OutputAudioRawFrame):
            # The output transport pushes each chunk it has written to the socket (its first push):
            # those are the frames Twilio got. With a serializer, its hook has seen them already.
            if self._serializer is None and isinstance(data.source, BaseOutputTransport):
                await self._on_output_audio(frame, now)
        elif isinstance(frame, BotStartedSpeakingFrame):  # broadcast both ways: count the turn once
            if not self._bot_speaking:
                self._bot_speaking = True
                self._barged_in = False
                self._stats.bot_turns += 1
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
            self._new_chunk = True
            self._on_dry(self._buffer.advance(now))
        elif isinstance(frame, _SPEECH_START) and downstream:
            self._speech_started_at = now
        elif isinstance(frame, _SPEECH_STOP) and downstream:
            self._speech_stopped_at = now
        elif isinstance(frame, InterruptionFrame) and downstream:
            self._on_interruption(now)
        elif isinstance(frame, TTSTextFrame):
            self._transcript.append(frame.text)
        elif isinstance(frame, LLMFullResponseEndFrame):
            self._log_transcript()
        elif isinstance(frame, TranscriptionFrame) and self._params.log_transcripts:
            logger.info(f"CALLER stream={self._sid()} {frame.text!r}")
        elif isinstance(frame, TwilioStopFrame):
            logger.debug(f"{self} stream={self._sid()} Twilio stopped the stream")

        if self._next_stats_at is not None and now >= self._next_stats_at:
            self._next_stats_at = now + self._params.stats_interval_s
            self._log_stats()

    async def _on_output_audio(self, frame: OutputAudioRawFrame, now: float) -> None:
        if frame.sample_rate != g711.SAMPLE_RATE or len(frame.audio) % 2:
            self._stats.tx_frames += 1
            return
        needs_wire = self._noise is not None or self._params.log_frames
        # what a serializer would put on the wire (only encoded when something reads it)
        await self._on_output_ulaw(g711.encode(frame.audio) if needs_wire else b"", now)

    async def _on_output_ulaw(self, ulaw: bytes, now: float) -> None:
        self._stats.tx_frames += 1
        if self._speech_stopped_at is not None:
            self._stats.first_reply_ms.append((now - self._speech_stopped_at) * 1000)
            self._speech_stopped_at = None
        if not ulaw:
            return
        if self._params.log_frames:
            head = base64.b64encode(ulaw[:10]).decode("ascii")
            logger.debug(f"TX stream={self._sid()} bytes={len(ulaw)} head={head}")
        if self._noise is not None:
            findings = self._noise.feed(ulaw, chunk_start=self._new_chunk)
            self._new_chunk = False
            for finding in findings:
                await self._on_noise(finding)

    async def _on_noise(self, finding: NoiseFinding) -> None:
        first = finding.reason not in self._stats.noise
        self._stats.noise[finding.reason] = self._stats.noise.get(finding.reason, 0) + 1
        if first:
            logger.error(
                f"NOISE stream={self._sid()} reason={finding.reason} rms={finding.rms:.0f}: the caller is "
                f"hearing noise, not speech. Likely cause: {finding.likely_cause}"
            )
            if self._record is not None:
                self._record.event("noise", reason=finding.reason)
            await self._call_event_handler("on_noise_detected", finding)

    def _on_interruption(self, now: float) -> None:
        if not self._bot_speaking or self._barged_in:  # one barge-in per bot turn, however many frames
            return
        self._barged_in = True
        self._stats.barge_ins += 1
        latency = None
        if self._speech_started_at is not None and now - self._speech_started_at < 2.0:
            latency = (now - self._speech_started_at) * 1000
            self._stats.barge_in_latency_ms.append(latency)
        if self._record is not None:
            self._record.event("barge_in", latency_ms=None if latency is None else round(latency))
        self._speech_started_at = None
        self._new_chunk = True
        if self._noise is not None:
            self._noise.reset()

    # ------------------------------------------------------------------ helpers

    def _sid(self) -> str:
        """The stream SID for a log line: from the wire, so quoted unless it is a plain token."""
        sid = self._serializer.stream_sid if self._serializer is not None else None
        return quote_for_log(sid or self._stats.stream_sid or None)

    def _refresh_wire(self) -> None:
        if self._serializer is None:
            return
        wire = self._serializer.stats
        stats = self._stats
        stats.stream_sid = self._serializer.stream_sid or stats.stream_sid
        stats.rx_bytes, stats.tx_bytes = wire.ulaw_bytes_received, wire.ulaw_bytes_sent
        stats.rx_frames, stats.tx_frames = wire.media_received, wire.media_sent
        stats.marks_sent, stats.marks_played, stats.marks_flushed = (
            wire.marks_sent,
            wire.marks_played,
            wire.marks_flushed,
        )
        stats.idle_clears = wire.clears_idle
        stats.clears, stats.malformed, stats.sequence_gaps = (
            wire.clears_sent,
            wire.malformed_dropped,
            wire.sequence_gaps,
        )

    def _update_levels(self) -> None:
        if len(self._levels) >= 10:
            levels = np.fromiter(self._levels, dtype=np.float64)
            self._stats.caller_floor_rms = round(float(np.percentile(levels, 10)), 1)
            self._stats.caller_speech_rms = round(float(np.percentile(levels, 90)), 1)

    def _log_stats(self) -> None:
        self._refresh_wire()
        self._update_levels()
        now = self._now()
        self._on_dry(self._buffer.advance(now))  # a long reply's dry periods need not wait for its end
        s, buffer = self._stats, self._buffer.summary()
        logger.info(
            f"STATS stream={self._sid()} rx={s.rx_bytes} tx={s.tx_bytes} rx_s={s.rx_seconds:.1f} "
            f"tx_s={s.tx_seconds:.1f} marks={s.marks_sent}/{s.marks_played}/{s.marks_flushed} "
            f"clears={s.clears} "
            f"bot_turns={s.bot_turns} barge_ins={s.barge_ins} idle_clears={s.idle_clears} "
            f"caller_floor={_fmt(s.caller_floor_rms)} "
            f"caller_speech={_fmt(s.caller_speech_rms)} lead_ms={_fmt(self._buffer.lead_ms(now))} "
            f"dry={buffer.dry_count}/{buffer.dry_ms:.0f}ms"
        )

    def _log_transcript(self) -> None:
        if self._transcript and self._params.log_transcripts:
            logger.info(f"BOT stream={self._sid()} {''.join(self._transcript).strip()!r}")
        self._transcript.clear()


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
