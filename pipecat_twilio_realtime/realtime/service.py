"""``OpenAIRealtimeMuLawLLMService``: Pipecat's OpenAI Realtime service pinned to G.711 μ-law both ways.

Pipecat 1.14's ``OpenAIRealtimeLLMService`` accepts ``PCMUAudioFormat`` in its session settings but still
resamples caller audio to 24 kHz PCM and labels every reply chunk as 24 kHz PCM: configuring μ-law there
produces loud noise on the phone. This subclass keeps everything else of the stock service (function
calling, context aggregation, transcripts) and replaces the audio path:

* every ``session.update`` it sends carries ``audio.input.format`` and ``audio.output.format`` =
  ``{"type": "audio/pcmu"}``, whatever the settings say (a settings update replaces the session
  properties wholesale, so the formats are pinned on the wire, not only at construction);
* caller audio (PCM16 at 8000 Hz) is μ-law encoded sample by sample and appended as is, only once the
  server has confirmed ``audio/pcmu`` (earlier audio is held, up to ``max_pending_input_ms``);
* reply deltas (μ-law) become PCM16 8000 Hz frames, sample by sample: nothing is resampled;
* a ``session.updated`` reporting any other audio format is an error that ends the call;
* barge-in clears Twilio at once and truncates the reply at what the caller really heard, measured by
  Twilio ``mark`` echoes and the time since the latest (:class:`PlaybackTracker`), never beyond the audio
  produced;
* never dead air (:class:`~.lifecycle.SessionLifecycle`): a session that does not start within
  ``session_ready_timeout_s`` or is lost for good ends in one ERROR line naming the cause, an apology and a
  hang-up or transfer; a dropped, stalled or expired session is reopened with the conversation so far.

``stock_seams()`` lists the stock methods it overrides and the stock private attributes it touches, read
from this class itself (so the list cannot go stale); the canary tests fail loudly when a Pipecat release
removes or reshapes any of them.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Mapping
from typing import Any, cast

from loguru import logger
from pipecat.frames.frames import Frame, InputAudioRawFrame, StartFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.openai.realtime import events
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMSettings
from websockets.protocol import State

from .. import g711
from .._logsafe import WarnOnce
from ..twilio.frames import TwilioMarkEchoFrame, TwilioStopFrame
from .connection import MAX_MESSAGE_BYTES, loss_reason
from .dtmf import KeypadInput
from .fallback import FALLBACK_MARK, load_apology
from .passthrough import downstream_needs_caller_audio
from .playback import PlaybackTracker
from .pricing import ModelPrices, estimate_cost, prices_for
from .reply_guard import ReplyGuard
from .session_format import (
    PHONE_TURN_DETECTION,
    audio_formats,
    not_pcmu,
    voice_of,
    warn_extreme_turn_detection,
)
from .stats import RealtimeMuLawStats
from .voices import check_voice
from .watch import SessionWatch

__all__ = ["OpenAIRealtimeMuLawLLMService"]

_ULAW_BYTES_PER_MS = g711.SAMPLE_RATE // 1000

DEFAULT_REALTIME_URL = "wss://api.openai.com/v1/realtime"
"""OpenAI's Realtime websocket, used when neither ``base_url`` nor :data:`REALTIME_URL_ENV` gives one."""

REALTIME_URL_ENV = "OPENAI_REALTIME_URL"
"""The environment variable read for the Realtime websocket URL when the service is given none (named as
the ``openai`` SDK names its own settings, ``OPENAI_*``; ``pipecat-twilio-standin`` prints it)."""


class OpenAIRealtimeMuLawLLMService(KeypadInput):
    """OpenAI Realtime over G.711 μ-law both ways, for Twilio phone calls, with no resampling.

    Use it where you would use ``OpenAIRealtimeLLMService``, in a pipeline running at 8000 Hz
    (``PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000)``) with
    :class:`~pipecat_twilio_realtime.TwilioMediaStreamSerializer` on the transport.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        settings: OpenAIRealtimeLLMSettings | None = None,
        mark_interval_ms: int = 500,
        max_pending_input_ms: int = 2000,
        append_interval_ms: int = 20,
        audio_passthrough: bool | None = None,
        reply_guard: bool = True,
        session_ready_timeout_s: float = 5.0,
        stall_timeout_s: float = 8.0,
        reconnect_attempts: int = 2,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        fallback_audio: bytes | None = None,
        transfer_to: str | None = None,
        end_call_on_failure: bool = True,
        prices: Mapping[str, ModelPrices] | None = None,
        dtmf_to_model: bool = False,
        **kwargs: Any,
    ) -> None:
        """Initialize the service.

        Args:
            api_key: OpenAI API key. Never logged.
            base_url: The Realtime websocket URL. ``None`` (the default) reads the ``OPENAI_REALTIME_URL``
                environment variable (the full URL, e.g. ``ws://127.0.0.1:8800/v1/realtime`` as
                ``pipecat-twilio-standin`` prints it), so an unmodified bot can be pointed at a stand-in;
                unset or empty, OpenAI's ``wss://api.openai.com/v1/realtime``.
            settings: The stock service's settings. Audio formats may be left out (they are pinned
                to ``audio/pcmu``); turn detection defaults to :data:`PHONE_TURN_DETECTION`.
            mark_interval_ms: How often (in reply audio) to ask Twilio for a playback mark, besides the
                one before each reply. Between echoes the caller's position is interpolated at the line
                rate (:class:`PlaybackTracker`), so marks only bound its drift: 500 ms truncates a
                barge-in as precisely as 100 ms (``benchmarks/bench_marks.py``) for a fifth of the mark
                frames, messages and echoes.
            max_pending_input_ms: Caller audio held until the server confirms ``audio/pcmu``; older
                audio beyond this is dropped (and counted).
            append_interval_ms: Caller audio per ``input_audio_buffer.append``. 20 ms sends each Twilio
                frame at once; larger values batch frames (fewer websocket messages, less CPU) at the
                cost of holding the oldest sample up to ``append_interval_ms - 20`` ms.
            audio_passthrough: Whether caller audio (``InputAudioRawFrame``) goes on downstream after it
                is sent to OpenAI, as in Pipecat's services (the same name as ``STTService``'s). ``None``
                (the default) decides at start from the processors after the service
                (:func:`~.passthrough.downstream_needs_caller_audio`): when they are all known not to read
                caller audio (the output transport, the assistant context aggregator, the pipeline's
                ends) each caller frame stops here, three fewer pipeline hops per frame; anything else
                after the service (an ``AudioBufferProcessor`` recording the call, a processor of yours)
                gets it. ``True``/``False`` force it either way.
            reply_guard: Check reply audio before it is pushed (:class:`~.reply_guard.ReplyGuard`): the
                first 40 ms of each reply are held and checked, then each 40 ms as it goes; audio that
                is plainly not μ-law speech is not played, the reply is cancelled and the call goes on
                (three such replies end the call).
            session_ready_timeout_s: The session must be confirmed (``session.updated`` with ``audio/pcmu``
                both ways) within this many seconds of opening it, handshake included; a connection that
                cannot open (refused, HTTP 401, ...) fails at once. Then the caller hears the fallback.
            stall_timeout_s: Seconds without any server event, while a reply is in progress or owed (the
                caller's turn ended), after which the session counts as stalled: a WARNING, then a reconnect.
            reconnect_attempts: Reconnects in a row after a lost session (socket drop, stall, the 60-minute
                limit), each carrying the conversation so far into a new session; when they fail, the
                fallback. 0 turns reconnecting off.
            max_message_bytes: The largest Realtime message accepted (websocket ``max_size``); see
                :data:`~.connection.MAX_MESSAGE_BYTES` for why 4 MiB.
            fallback_audio: μ-law (8000 Hz, mono) the caller hears when the session cannot start or is
                lost for good; ``None`` plays the shipped apology (:func:`~.fallback.load_apology`),
                ``b""`` nothing.
            transfer_to: After the fallback audio, transfer the call to this number (TwiML ``<Dial>``
                through the serializer's REST credentials) instead of hanging up.
            end_call_on_failure: Whether the service plays the fallback and ends (or transfers) the call
                itself. ``False``: it only logs the cause and fires ``on_session_failed(service, reason)``;
                the app decides what the caller hears and how the call ends.
            prices: USD per 1M tokens by model, for ``stats.cost_usd``; ``None`` uses
                :data:`~.pricing.DEFAULT_PRICES` (list prices with their date and source).
            dtmf_to_model: Put each keypad press in the conversation as ``"The caller pressed 0."`` and
                ask for a response (:mod:`~.dtmf`); off by default.
            **kwargs: Passed to ``OpenAIRealtimeLLMService``.

        Raises:
            ValueError: If the settings ask for an audio format other than ``audio/pcmu`` or a voice the
                Realtime API does not offer, or an interval is not positive.
        """
        for name, value in {
            "mark_interval_ms": mark_interval_ms,
            "max_pending_input_ms": max_pending_input_ms,
            "append_interval_ms": append_interval_ms,
            "session_ready_timeout_s": session_ready_timeout_s,
            "stall_timeout_s": stall_timeout_s,
            "max_message_bytes": max_message_bytes,
        }.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if reconnect_attempts < 0:
            raise ValueError(f"reconnect_attempts must not be negative, got {reconnect_attempts}")
        for props in (
            settings.session_properties if settings is not None else None,
            kwargs.get("session_properties"),
        ):
            props = props if isinstance(props, events.SessionProperties) else None
            wrong = not_pcmu(props, missing_ok=True)
            if wrong:
                shown = ", ".join(f"{k}={v}" for k, v in wrong.items())
                raise ValueError(
                    f"OpenAIRealtimeMuLawLLMService speaks audio/pcmu (G.711 μ-law) both ways; "
                    f"the settings ask for {shown}. Leave the formats out, or use PCMUAudioFormat()."
                )
            voice = voice_of(props)
            if voice is not None:
                check_voice(voice)
        from_env = os.environ.get(REALTIME_URL_ENV) if base_url is None else None
        base_url = base_url or from_env or DEFAULT_REALTIME_URL
        super().__init__(api_key=api_key, base_url=base_url, settings=settings, **kwargs)
        if from_env:
            shown = from_env.split("?", 1)[0]  # a query string may carry a key: never logged
            logger.info(f"{self}: Realtime URL from {REALTIME_URL_ENV}: {shown!r}")
        self._pin_session_properties()
        self._mark_interval_bytes = mark_interval_ms * _ULAW_BYTES_PER_MS
        self._max_pending_bytes = max_pending_input_ms * _ULAW_BYTES_PER_MS
        self._append_bytes = append_interval_ms * _ULAW_BYTES_PER_MS
        self._audio_passthrough_setting = audio_passthrough
        self._audio_passthrough = audio_passthrough is not False
        self._batch = bytearray()
        self._format_confirmed = False
        self._format_failed = False
        self._pending_input = bytearray()
        self._stop_tail = bytearray()
        self._input_flushed = False
        self._playback = PlaybackTracker()
        self._clearing, self._truncations_due = False, {}  # a barge-in's truncate waits for its echo
        self._produced: dict[str, int] = {}
        self._next_mark_at = 0
        self._speech_stopped_at: float | None = None
        self._warn_once = WarnOnce(self, level="ERROR")
        self._stats = RealtimeMuLawStats()
        self._prices = prices
        self._dtmf_to_model = dtmf_to_model
        self._lost = False
        self._recoverable_error = False
        self._fatal_error: str | None = None
        self._guard = ReplyGuard() if reply_guard else None
        self._blocked_items: set[str] = set()
        self._cut_items: set[str] = set()
        self._watch = SessionWatch(session_ready_timeout_s, stall_timeout_s)
        self._max_message_bytes = max_message_bytes
        self._reconnect_attempts = reconnect_attempts
        self._reconnects_in_a_row = 0
        self._confirmed_at = 0.0
        self._fallback_audio = load_apology() if fallback_audio is None else fallback_audio
        self._transfer_to = transfer_to
        self._end_call_on_failure = end_call_on_failure
        self._failed = False
        self._closing = False
        self._reconnecting = False
        self._expired = False
        self._attempt_lost: str | None = None
        self._restore_on_confirm = False
        self._respond_after_restore = False
        self._session_confirmed = asyncio.Event()
        self._stream_live = asyncio.Event()
        self._fallback_played = asyncio.Event()
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._watching = False
        self._register_event_handler("on_session_failed")
        self._register_event_handler("on_session_reconnected")

    # ------------------------------------------------------------------ public state

    @property
    def stats(self) -> RealtimeMuLawStats:
        """Live counters of the OpenAI side of the call."""
        return self._stats

    @property
    def format_confirmed(self) -> bool:
        """Whether the server has confirmed ``audio/pcmu`` both ways."""
        return self._format_confirmed

    @property
    def playback(self) -> PlaybackTracker:
        """What the caller has heard, per reply item, from Twilio mark echoes."""
        return self._playback

    # ------------------------------------------------------------------ the session format

    def _pin_session_properties(self) -> None:
        """Set μ-law both ways (and phone VAD defaults) on the stored session properties."""
        settings = cast(OpenAIRealtimeLLMSettings, self._settings)
        props = settings.session_properties
        if not isinstance(props, events.SessionProperties):
            props = events.SessionProperties()
        settings.session_properties = self._pinned(props)

    def _pinned(self, props: events.SessionProperties) -> events.SessionProperties:
        wrong = not_pcmu(props, missing_ok=True)
        if wrong:
            logger.error(
                f"{self} ignoring a request for audio format(s) {wrong}: this service speaks audio/pcmu only"
            )
        audio = props.audio.model_copy(deep=True) if props.audio else events.AudioConfiguration()
        audio_in = audio.input.model_copy() if audio.input else events.AudioInput()
        audio_out = audio.output.model_copy() if audio.output else events.AudioOutput()
        if audio_out.voice is not None:
            try:
                check_voice(audio_out.voice)
            except ValueError as e:
                logger.error(f"{self} not sending the voice: {e}; the session keeps its current voice")
                audio_out.voice = None
        audio_in.format = events.PCMUAudioFormat()
        audio_out.format = events.PCMUAudioFormat()
        if audio_in.turn_detection is None:
            audio_in.turn_detection = PHONE_TURN_DETECTION.model_copy()
        else:
            warn_extreme_turn_detection(audio_in.turn_detection, str(self))
        audio.input, audio.output = audio_in, audio_out
        return props.model_copy(update={"audio": audio})

    async def send_client_event(self, event: events.ClientEvent) -> None:
        """Send a client event, pinning ``audio/pcmu`` into every ``session.update``.

        Args:
            event: The client event.
        """
        if isinstance(event, events.SessionUpdateEvent):
            event = event.model_copy(update={"session": self._pinned(event.session)})
        await super().send_client_event(event)

    async def _handle_evt_session_created(self, evt: Any) -> None:
        formats = audio_formats(evt.session)
        logger.debug(f"{self} session.created with server default formats {formats}; pinning audio/pcmu")
        await super()._handle_evt_session_created(evt)

    async def _handle_evt_session_updated(self, evt: Any) -> None:
        wrong = not_pcmu(evt.session, missing_ok=False)
        if wrong:
            self._stats.format_mismatches += 1
            self._format_confirmed = False
            self._format_failed = True
            shown = ", ".join(f"{k}={v}" for k, v in wrong.items())
            await self._fail(
                f"the Realtime server confirmed {shown} instead of audio/pcmu: its audio would play "
                "as loud noise on the phone"
            )
            return
        first = not self._format_confirmed
        self._format_confirmed = True
        if first:
            logger.info(f"{self} server confirmed audio/pcmu both ways")
            self._watch.confirmed()
            self._confirmed_at = time.monotonic()
            self._session_confirmed.set()
        restore, self._restore_on_confirm = self._restore_on_confirm, False
        if restore:
            await self._restore_conversation()
        await super()._handle_evt_session_updated(evt)
        if restore and self._respond_after_restore and self._context is not None:
            self._respond_after_restore = False
            await self._create_response()
        if self._pending_input:
            pending, self._pending_input = bytes(self._pending_input), bytearray()
            await self._append(pending)

    # ------------------------------------------------------------------ caller audio

    async def _send_user_audio(self, frame: InputAudioRawFrame) -> None:
        # Replaces the stock hook: its first step is the 24 kHz resampler, the very thing we remove.
        problem = g711.wrong_format(frame.sample_rate, frame.num_channels)
        if problem is not None:
            self._stats.wrong_rate_frames += 1
            self._warn_once("rate", f"dropped caller audio for OpenAI: {problem}")
            return
        if not frame.audio:
            return
        try:
            ulaw = g711.encode(frame.audio)
        except ValueError as e:
            self._warn_once("odd", f"dropped caller audio: {e}")
            return
        if self._is_turn_detection_disabled():
            self._user_audio_preroll_buffer.extend(ulaw)
            keep = int(g711.SAMPLE_RATE * self._user_audio_preroll_secs)
            self._user_audio_preroll_buffer = self._user_audio_preroll_buffer[-keep:]
        if not self._format_confirmed:
            if self._format_failed or self._failed:
                return
            self._stats.held_before_session_bytes += len(ulaw)
            self._pending_input.extend(ulaw)
            excess = len(self._pending_input) - self._max_pending_bytes
            if excess > 0:
                del self._pending_input[:excess]
                self._stats.dropped_input_bytes += excess
            return
        self._batch += ulaw
        if len(self._batch) >= self._append_bytes:
            batch, self._batch = bytes(self._batch), bytearray()
            await self._append(batch)

    async def _flush_input_at_end(self) -> None:
        """Send the caller audio still held when the call ends as the session's last append.

        Held audio is the partial ``append_interval_ms`` batch and the serializer's partial inbound frame
        (``TwilioStopFrame.tail_audio``). When the session cannot take it any more (never confirmed,
        lost, closed) it is counted in ``stats.dropped_at_end_bytes`` with one log line saying why.
        """
        if self._input_flushed:
            return
        self._input_flushed = True
        held = bytes(self._batch) + bytes(self._stop_tail)
        self._batch, self._stop_tail = bytearray(), bytearray()
        if self._format_confirmed:
            reason = self._end_drop_reason()
            if reason is None:
                await self._append(held)
                return
        else:
            held = bytes(self._pending_input) + held
            self._pending_input = bytearray()
            reason = "the session never confirmed audio/pcmu"
        if not held:
            return
        self._stats.dropped_at_end_bytes += len(held)
        self._stats.dropped_at_end_reason = reason
        logger.warning(f"{self} {len(held)} B of the caller's last audio not sent to OpenAI: {reason}")

    def _end_drop_reason(self) -> str | None:
        websocket = self._websocket
        if self._lost or self._failed:
            return "the session was already lost"
        if websocket is None:
            return "the session was already closed"
        if websocket.state is not State.OPEN:
            return f"the connection is {websocket.state.name.lower()}"
        return None

    async def _append(self, ulaw: bytes) -> None:
        self._stats.appended_bytes += len(ulaw)
        self._stats.appends += 1
        payload = base64.b64encode(ulaw).decode("ascii")
        await self.send_client_event(events.InputAudioBufferAppendEvent(audio=payload))

    # ------------------------------------------------------------------ opening, losing, reopening

    async def _connect(self) -> None:
        # Replaces the stock hook: it waits for the handshake inside setup() (a hung handshake holds the
        # whole pipeline for websockets' 10 s open_timeout), uses the 1 MiB default max_size and turns
        # every failure into a generic ErrorFrame. Here the handshake runs in a task, bounded by
        # session_ready_timeout_s, and a failure is named and ends in the fallback.
        if self._websocket is not None or self._failed or self._closing:
            return
        self._watch.opening(time.monotonic())
        self._spawn(self._watch_session())
        self._spawn(self._open_session())

    async def _receive_task_handler(self) -> None:
        """Run the stock receive loop; when the connection ends under a live call, reconnect or fall back.

        The stock loop stops at the first ``error`` event and on a closed socket, which would leave the
        caller in silence on an open call while every 20 ms append fails. Errors that do not end a
        session (a rejected truncate) resume the loop instead.
        """
        reason = loss_reason(None, self._max_message_bytes)
        while True:
            self._recoverable_error = False
            self._fatal_error = None
            try:
                await super()._receive_task_handler()
            except Exception as e:  # the socket failed (e.g. closed with 1011 mid-reply, or 1009)
                reason = loss_reason(e, self._max_message_bytes)
                break
            if self._recoverable_error and self._websocket is not None:
                continue
            reason = self._fatal_error or reason
            break
        if not self._disconnecting:
            await self._on_realtime_lost(reason, recoverable=self._fatal_error is None or self._expired)

    async def _handle_evt_response_done(self, evt: Any) -> None:
        usage = evt.response.usage
        if usage is not None:
            self._count_usage(usage)
        await super()._handle_evt_response_done(evt)

    def _count_usage(self, usage: Any) -> None:
        """Add one ``response.done`` usage to the call's sums and re-estimate its cost."""
        stats = self._stats
        stats.usage.add_event_usage(usage)
        stats.model = cast(OpenAIRealtimeLLMSettings, self._settings).model or stats.model
        prices = prices_for(stats.model, self._prices)
        stats.cost_usd = estimate_cost(stats.usage, prices) if prices is not None else None

    async def _handle_evt_error(self, evt: Any) -> None:
        error = evt.error
        param = getattr(error, "param", None) or ""
        if "audio_end_ms" in param or (error.code or "").startswith("item_truncate"):
            self._recoverable_error = True
            self._stats.recovered_errors += 1
            logger.warning(f"{self} the server rejected a truncate ({error.message}); the call goes on")
            return
        self._expired = error.code == "session_expired"
        self._fatal_error = f"error event {error.code or error.type}: {str(error.message)[:160]}"
        if not self._expired:
            await super()._handle_evt_error(evt)

    async def _ws_send(self, realtime_message: Any) -> None:
        websocket = self._websocket
        if (
            not self._lost
            and websocket is not None
            and not self._disconnecting
            and websocket.state is not State.OPEN
        ):
            # closed under us: handle it once, rather than one ErrorFrame per 20 ms append
            await self._on_realtime_lost(f"the connection is {websocket.state.name.lower()}")
        if self._lost or self._failed or (websocket is not None and websocket.state is not State.OPEN):
            self._stats.dropped_after_loss += 1
            return
        await super()._ws_send(realtime_message)

    async def start(self, frame: StartFrame) -> None:
        """Start the service; with ``audio_passthrough=None``, decide whether caller audio goes on.

        Args:
            frame: The start frame.
        """
        self._decide_passthrough()
        await super().start(frame)

    def _decide_passthrough(self) -> None:
        """With ``audio_passthrough=None``: pass caller audio on only if a processor after us may read it."""
        if self._audio_passthrough_setting is not None:
            return
        self._audio_passthrough, wanted_by = downstream_needs_caller_audio(self)
        logger.debug(
            f"{self} caller audio goes on downstream: wanted by {wanted_by}"
            if self._audio_passthrough
            else f"{self} caller audio stops here: nothing after the service reads it"
        )

    @property
    def audio_passthrough(self) -> bool:
        """Whether caller audio goes on downstream after this service (decided at start when ``None``)."""
        return self._audio_passthrough

    async def stop(self, frame: Any) -> None:
        """Stop the service (the call is ending): no reconnect, no fallback from here on.

        Caller audio still held (a partial batch) goes to OpenAI first, as the session's last append.

        Args:
            frame: The end frame.
        """
        self._closing = True
        await self._flush_input_at_end()
        await super().stop(frame)

    async def cancel(self, frame: Any) -> None:
        """Cancel the service (the call is ending): no reconnect, no fallback from here on.

        Caller audio still held goes to OpenAI first if the session is still open.

        Args:
            frame: The cancel frame.
        """
        self._closing = True
        await self._flush_input_at_end()
        await super().cancel(frame)

    async def cleanup(self) -> None:
        """Release resources, including the watch, reconnect and fallback tasks."""
        self._closing = True
        for task in list(self._side_tasks):
            if task is not asyncio.current_task():
                await self.cancel_task(task, timeout=1.0)
        await super().cleanup()

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM) -> None:
        """Push a frame as the stock service does, except frames whose journey ends here.

        Twilio mark echoes end at this service, which is what they are for (observers still see them
        where the transport pushes them). Caller audio ends here too when ``audio_passthrough`` is off.

        Args:
            frame: The frame to push.
            direction: The direction of frame pushing.
        """
        if direction is FrameDirection.DOWNSTREAM and (
            isinstance(frame, TwilioMarkEchoFrame)
            or (not self._audio_passthrough and isinstance(frame, InputAudioRawFrame))
        ):
            return
        await super().push_frame(frame, direction)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Track Twilio mark echoes, then handle the frame as the stock service does.

        Args:
            frame: The frame.
            direction: Its direction.
        """
        if isinstance(frame, TwilioMarkEchoFrame):
            await self._on_mark_echo(frame)
            if frame.label == FALLBACK_MARK and frame.played:
                self._fallback_played.set()
        elif isinstance(frame, InputAudioRawFrame):
            self._stream_live.set()
        elif isinstance(frame, TwilioStopFrame) and frame.tail_audio:
            self._hold_stop_tail(frame.tail_audio)
        await super().process_frame(frame, direction)

    def _hold_stop_tail(self, pcm: bytes) -> None:
        """Keep the serializer's partial inbound frame, sent at the end (after any audio still queued)."""
        try:
            self._stop_tail += g711.encode(pcm)
        except ValueError as e:
            self._warn_once("odd", f"dropped caller audio: {e}")
