"""A local stand-in for the OpenAI Realtime API (GA shape), for tests that must not touch the network.

:class:`RealtimeStandIn` is a real websocket server on 127.0.0.1 that speaks the
GA Realtime protocol closely enough to drive a Pipecat Realtime service through
a whole phone call:

* every client event is validated strictly against the ``openai`` SDK's
  ``openai.types.realtime`` models; because those models accept unknown fields,
  the stand-in also walks the parsed model tree and rejects any field the SDK
  does not declare. Anything invalid is answered with an ``error`` event (and
  recorded in :attr:`RealtimeStandIn.errors`), as the real server does;
* every server event is built from the SDK's server event models;
* it tracks the session (``session.update`` merges like the real server and is
  confirmed with ``session.updated`` carrying the full session);
* it detects caller speech turns from the appended audio (energy-based server
  VAD, see :class:`EnergyVad`), replies with real speech (the shipped μ-law
  clips, see :mod:`pipecat_twilio_realtime.testing.clips`) and its transcript,
  emits ``speech_started`` when the caller talks over a reply, honours
  ``response.cancel`` and ``conversation.item.truncate`` (rejecting an
  ``audio_end_ms`` beyond the audio it produced for the item);
* it can misbehave on purpose: confirm and send ``audio/pcm`` whatever the
  session says, close the socket mid-reply, send an ``error``, confirm the
  session late.

Reply audio is sent in the session's output format. For ``audio/pcmu`` the
clip bytes go out unchanged, so a test can compare what its bot played with
:attr:`RealtimeStandIn.reply_audio` byte for byte.

Example::

    async with RealtimeStandIn() as standin:
        service = OpenAIRealtimeMuLawLLMService(api_key="test", base_url=standin.url, ...)
        ...
        await standin.wait_for("response.done")
        assert standin.session["audio"]["output"]["format"] == {"type": "audio/pcmu"}

Function calls are modelled minimally (see the ``function_call`` option). Not
modelled: text-only output, transcription sessions,
input transcription, rate limits, the 60-minute session limit.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import math
import time
import typing
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import pydantic
from loguru import logger
from openai.types.realtime import (
    ConversationItemAdded,
    ConversationItemDeletedEvent,
    ConversationItemDone,
    ConversationItemTruncatedEvent,
    InputAudioBufferClearedEvent,
    InputAudioBufferCommittedEvent,
    InputAudioBufferSpeechStartedEvent,
    InputAudioBufferSpeechStoppedEvent,
    RealtimeClientEvent,
    RealtimeErrorEvent,
    RealtimeSessionCreateResponse,
    ResponseAudioDeltaEvent,
    ResponseAudioDoneEvent,
    ResponseAudioTranscriptDeltaEvent,
    ResponseAudioTranscriptDoneEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
)
from openai.types.realtime.realtime_server_event import ConversationItemRetrieved
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from pipecat_twilio_realtime import g711
from pipecat_twilio_realtime.testing.clips import CLIP_NAMES, CLIP_TEXTS, load_clip

__all__ = ["EnergyVad", "RealtimeStandIn"]

EventPredicate = Callable[[dict[str, Any]], bool]

_CLIENT_EVENT_MODELS: dict[str, type[pydantic.BaseModel]] = {
    typing.get_args(model.model_fields["type"].annotation)[0]: model
    for model in typing.get_args(typing.get_args(RealtimeClientEvent)[0])
}
"""Client event ``type`` → its SDK model, taken from the ``RealtimeClientEvent`` union itself."""

_BYTES_PER_MS = {"audio/pcmu": 8, "audio/pcma": 8, "audio/pcm": 48}
"""Bytes per millisecond of each GA audio format (μ-law/A-law 8 kHz × 1 byte; PCM16 24 kHz × 2)."""

_DEFAULT_TURN_DETECTION: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}


def extra_field_paths(value: Any, path: str = "") -> Iterator[str]:
    """Yield the dotted path of every undeclared field in a parsed SDK model tree.

    The ``openai`` models are declared with ``extra="allow"``, so validation alone
    accepts misspelt or invented fields; this walk finds them.

    Args:
        value: A parsed model, or a list/dict/scalar inside one.
        path: The path of ``value`` so far.

    Yields:
        Paths such as ``session.audio.input.format.rate_x``.
    """
    if isinstance(value, pydantic.BaseModel):
        for key in value.__pydantic_extra__ or {}:
            yield f"{path}.{key}" if path else key
        for name in type(value).model_fields:
            yield from extra_field_paths(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from extra_field_paths(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from extra_field_paths(item, f"{path}.{key}" if path else str(key))


class _EventRejected(Exception):
    """A client event the real server would reject; becomes an ``error`` event."""

    def __init__(self, message: str, *, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param


class EnergyVad:
    """Energy-based turn detection standing in for the server's ``server_vad``.

    The real server uses a neural VAD; here a 20 ms frame is speech when its RMS
    level is at or above a gate derived from the session's ``threshold``:
    ``gate_dbfs = -60 + 40 * threshold`` (0.0 → -60 dBFS, the default 0.5 →
    -40 dBFS, 1.0 → -20 dBFS). Phone speech sits around -20 dBFS RMS, line
    silence far below -50 dBFS. Speech starts after two consecutive speech
    frames (40 ms, so a click is not a turn) and ``audio_start_ms`` is moved back
    by ``prefix_padding_ms``; it stops after ``silence_duration_ms`` of non-speech
    frames, with ``audio_end_ms`` at the end of that silence (as the real server
    reports it). Times count from the start of all audio appended in the session.
    """

    FRAME_MS = 20
    MIN_SPEECH_FRAMES = 2

    def __init__(self, threshold: float = 0.5, prefix_padding_ms: int = 300, silence_duration_ms: int = 500):
        """Initialise the detector.

        Args:
            threshold: The session's ``turn_detection.threshold`` (0.0–1.0).
            prefix_padding_ms: The session's ``turn_detection.prefix_padding_ms``.
            silence_duration_ms: The session's ``turn_detection.silence_duration_ms``.
        """
        self.gate_dbfs = -60.0 + 40.0 * threshold
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self.speaking = False
        self._position_ms = 0
        self._speech_run = 0
        self._silence_ms = 0
        self._pending = array("h")

    @staticmethod
    def rms_dbfs(samples: Sequence[int]) -> float:
        """Return the RMS level of PCM16 samples in dBFS (``-inf`` for digital silence)."""
        if not samples:
            return -math.inf
        mean_square = sum(s * s for s in samples) / len(samples)
        return -math.inf if mean_square == 0 else 10 * math.log10(mean_square / 32768**2)

    def feed(self, pcm16: bytes, sample_rate: int) -> list[tuple[Literal["started", "stopped"], int]]:
        """Feed PCM16 audio; return the turn boundaries it completes.

        Args:
            pcm16: Mono PCM16 little-endian samples.
            sample_rate: Their rate (8000 or 24000).

        Returns:
            ``("started", audio_start_ms)`` / ``("stopped", audio_end_ms)`` pairs, in order.
        """
        self._pending.frombytes(pcm16)
        frame = sample_rate * self.FRAME_MS // 1000
        boundaries: list[tuple[Literal["started", "stopped"], int]] = []
        while len(self._pending) >= frame:
            samples = self._pending[:frame]
            del self._pending[:frame]
            loud = self.rms_dbfs(samples) >= self.gate_dbfs
            self._position_ms += self.FRAME_MS
            if not self.speaking:
                self._speech_run = self._speech_run + 1 if loud else 0
                if self._speech_run >= self.MIN_SPEECH_FRAMES:
                    self.speaking = True
                    self._silence_ms = 0
                    onset = self._position_ms - self._speech_run * self.FRAME_MS
                    boundaries.append(("started", max(0, onset - self.prefix_padding_ms)))
            else:
                self._silence_ms = 0 if loud else self._silence_ms + self.FRAME_MS
                if self._silence_ms >= self.silence_duration_ms:
                    self.speaking = False
                    self._speech_run = 0
                    boundaries.append(("stopped", self._position_ms))
        return boundaries


class _Reply:
    """One response in progress: its ids, clip and how much audio it has produced."""

    def __init__(self, response_id: str, item_id: str, clip: str) -> None:
        self.response_id = response_id
        self.item_id = item_id
        self.clip = clip
        self.task: asyncio.Task[None] | None = None
        self.sent_bytes = 0
        self.cancel_reason: Literal["turn_detected", "client_cancelled"] | None = None
        self.function_call: tuple[str, str, str] | None = None  # (name, call_id, arguments JSON)


class _Call:
    """Per-connection protocol state."""

    def __init__(self, ws: ServerConnection, session: dict[str, Any]) -> None:
        self.ws = ws
        self.session = session
        self.vad: EnergyVad | None = None
        self.vad_key: tuple[Any, ...] | None = None
        self.buffer_ms = 0.0
        self.speech_item_id: str | None = None
        self.user_turns = 0
        self.last_item_id: str | None = None
        self.items: dict[str, dict[str, Any]] = {}
        self.produced_ms: dict[str, int] = {}
        self.reply: _Reply | None = None
        self.reply_count = 0
        self.updated_once = False
        self.function_called = False


class RealtimeStandIn:
    """A local OpenAI Realtime (GA) websocket server for tests.

    Use it as an async context manager; it binds 127.0.0.1 on a free port. One
    call at a time is the intended use; every new connection starts a new
    session (with a ``session.created``) while the recordings keep growing.

    Attributes:
        received: Every client event received, parsed JSON, in order (invalid ones too).
        sent: Every server event sent, in order.
        errors: The ``error`` events among :attr:`sent`.
        appended_audio: All bytes received through ``input_audio_buffer.append``, concatenated.
        reply_audio: All bytes sent in ``response.output_audio.delta`` events, concatenated.
        connections: One dict per websocket accepted: ``path``, ``openai_beta`` (the
            ``OpenAI-Beta`` header or ``None``) and ``authorization_present`` (the header's
            value is never recorded).
    """

    def __init__(
        self,
        *,
        greeting: bool = True,
        reply_clips: Sequence[str] = ("bot_answer",),
        delta_ms: int = 100,
        speed: float = 4.0,
        reply_format_override: Literal["audio/pcm"] | None = None,
        close_mid_reply: bool = False,
        error_after_session: bool = False,
        session_confirm_delay: float = 0.0,
        model: str = "gpt-realtime",
        function_call: tuple[str, dict[str, Any]] | None = None,
        session_limit_s: float | None = None,
    ) -> None:
        """Configure the stand-in.

        Args:
            greeting: When a ``response.create`` arrives before the caller has said
                anything, speak the ``bot_greeting`` clip (otherwise the next reply clip).
            reply_clips: Clip names used, in turn (cycling), for replies to caller turns.
            delta_ms: Audio per ``response.output_audio.delta`` event, in milliseconds.
            speed: How many times faster than real time reply audio is sent (the real
                server bursts too). ``math.inf`` sends the whole reply without pausing.
            reply_format_override: ``"audio/pcm"``: misbehave like a server that ignores
                the requested output format — confirm ``audio/pcm`` 24 kHz in
                ``session.created``/``session.updated`` and send PCM16 24 kHz deltas.
            close_mid_reply: Close the websocket (code 1011) halfway through the first reply.
            error_after_session: Send a ``server_error`` ``error`` event right after the
                first ``session.updated``.
            session_confirm_delay: Seconds to wait before answering a ``session.update``
                (events behind it wait too, as on one ordered socket).
            model: The model reported in the session unless the URL's ``model`` query says otherwise.
            function_call: ``(name, arguments)``: answer the first caller turn with a call to that
                function instead of speech; the next ``response.create`` (after the client adds its
                ``function_call_output`` item) speaks the reply clip as usual.
            session_limit_s: End each session after this many seconds, as the real server does at its
                60-minute limit: an ``error`` event with code ``session_expired``, then a close.

        Raises:
            ValueError: For an unknown clip name or a non-positive ``delta_ms``/``speed``.
        """
        for clip in reply_clips:
            if clip not in CLIP_NAMES:
                raise ValueError(f"unknown reply clip {clip!r}; available: {', '.join(CLIP_NAMES)}")
        if not reply_clips:
            raise ValueError("reply_clips must name at least one clip")
        if delta_ms <= 0 or speed <= 0:
            raise ValueError("delta_ms and speed must be positive")
        self.greeting = greeting
        self.reply_clips = tuple(reply_clips)
        self.delta_ms = delta_ms
        self.speed = speed
        self.reply_format_override = reply_format_override
        self.close_mid_reply = close_mid_reply
        self.error_after_session = error_after_session
        self.session_confirm_delay = session_confirm_delay
        self.model = model
        self.function_call = function_call
        self.session_limit_s = session_limit_s

        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.appended_audio = b""
        self.reply_audio = b""
        self.connections: list[dict[str, Any]] = []

        self._server: Server | None = None
        self._port = 0
        self._call: _Call | None = None
        self._last_session: dict[str, Any] = {}
        self._ordered: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._ids = itertools.count(1)

    def __str__(self) -> str:
        return f"RealtimeStandIn(127.0.0.1:{self._port})"

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start listening on 127.0.0.1 (a free port)."""
        self._server = await serve(self._handle, "127.0.0.1", 0, max_size=2**24)
        self._port = next(iter(self._server.sockets)).getsockname()[1]
        logger.debug(f"{self} listening")

    async def stop(self) -> None:
        """Close every connection, stop any reply in progress and stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            logger.debug(f"{self} stopped")

    async def __aenter__(self) -> RealtimeStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------ public helpers

    @property
    def url(self) -> str:
        """The websocket URL to give the client (any path and query are accepted)."""
        if not self._port:
            raise RuntimeError("RealtimeStandIn is not started; use 'async with RealtimeStandIn()'")
        return f"ws://127.0.0.1:{self._port}/v1/realtime"

    @property
    def session(self) -> dict[str, Any]:
        """The current (or last) call's session config as the server tracks it (what it confirms)."""
        return self._call.session if self._call is not None else self._last_session

    def produced_ms(self, item_id: str) -> int:
        """Return how many milliseconds of audio the stand-in produced for an assistant item.

        Args:
            item_id: The ``item_id`` of ``response.output_audio.delta`` events.

        Returns:
            Milliseconds of audio sent for that item (0 if unknown).
        """
        return self._call.produced_ms.get(item_id, 0) if self._call is not None else 0

    async def wait_for(
        self,
        predicate: str | EventPredicate,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a test helper: the deadline belongs in its signature
        count: int = 1,
    ) -> dict[str, Any]:
        """Wait until ``count`` recorded events (received or sent) match.

        Args:
            predicate: An event ``type`` (e.g. ``"response.done"``), or a function of the event dict.
            timeout: Seconds to wait before giving up.
            count: Which match to return (1 = the first, 2 = the second, ...).

        Returns:
            The ``count``-th matching event, in recording order.

        Raises:
            TimeoutError: If fewer than ``count`` events matched within ``timeout``; the message
                lists the event types recorded so far.
        """
        check: EventPredicate = (
            (lambda event: event.get("type") == predicate) if isinstance(predicate, str) else predicate
        )

        def find() -> dict[str, Any] | None:
            matches = [event for event in self._all_events() if check(event)]
            return matches[count - 1] if len(matches) >= count else None

        try:
            async with asyncio.timeout(timeout):
                while (found := find()) is None:
                    self._changed.clear()
                    await self._changed.wait()
                return found
        except TimeoutError:
            seen = [e.get("type") for e in self._all_events()][-30:]
            raise TimeoutError(
                f"{self}: no match for {predicate!r} (count={count}); last events: {seen}"
            ) from None

    def _all_events(self) -> list[dict[str, Any]]:
        """Received and sent events interleaved, in recording order."""
        return self._ordered

    def _record(self, bucket: list[dict[str, Any]], event: dict[str, Any]) -> None:
        bucket.append(event)
        self._ordered.append(event)
        self._changed.set()

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_standin{next(self._ids):06d}"

    async def _send(self, call: _Call, model: pydantic.BaseModel) -> None:
        event = model.model_dump(mode="json", exclude_unset=True)
        self._record(self.sent, event)
        if event["type"] == "error":
            self.errors.append(event)
            logger.warning(f"{self} sent error: {event['error'].get('message')}")
        await call.ws.send(json.dumps(event))

    async def _send_error(
        self,
        call: _Call,
        message: str,
        *,
        code: str,
        param: str | None = None,
        client_event_id: str | None = None,
    ) -> None:
        error: dict[str, Any] = {
            "type": "invalid_request_error" if code != "server_error" else "server_error",
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event_id,
        }
        await self._send(
            call,
            RealtimeErrorEvent.model_validate(
                {"type": "error", "event_id": self._new_id("event"), "error": error}
            ),
        )

    # ------------------------------------------------------------------ the call

    def _initial_session(self, path: str) -> dict[str, Any]:
        model = self.model
        if "?" in path:
            for part in path.split("?", 1)[1].split("&"):
                key, _, value = part.partition("=")
                if key == "model" and value:
                    model = value
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": self._new_id("sess"),
            "model": model,
            "expires_at": int(time.time()) + 3600,
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "truncation": "auto",
            "prompt": None,
            "include": None,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": dict(_DEFAULT_TURN_DETECTION),
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1.0},
            },
        }

    def _confirmed_session(self, call: _Call) -> dict[str, Any]:
        session = json.loads(json.dumps(call.session))
        if self.reply_format_override is not None:
            session["audio"]["output"]["format"] = {"type": "audio/pcm", "rate": 24000}
        # Validate our own output against the SDK's full-session model.
        return RealtimeSessionCreateResponse.model_validate(session).model_dump(
            mode="json", exclude_unset=True
        )

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        path = request.path if request is not None else "/"
        headers = request.headers if request is not None else None
        beta = headers.get("OpenAI-Beta") if headers is not None else None
        self.connections.append(
            {
                "path": path,
                "openai_beta": beta,
                "authorization_present": headers is not None and "Authorization" in headers,
            }
        )
        call = _Call(ws, self._initial_session(path))
        self._call = call
        logger.debug(f"{self} call connected on {path}")
        limit = asyncio.create_task(self._expire(call)) if self.session_limit_s is not None else None
        try:
            await self._send(
                call,
                SessionCreatedEvent.model_validate(
                    {
                        "type": "session.created",
                        "event_id": self._new_id("event"),
                        "session": self._confirmed_session(call),
                    }
                ),
            )
            if beta is not None and "realtime=v1" in beta:
                await self._send_error(
                    call,
                    "The stand-in speaks the GA Realtime API; "
                    "the 'OpenAI-Beta: realtime=v1' header selects the beta shape",
                    code="beta_header",
                )
            async for message in ws:
                await self._on_message(call, message)
        except ConnectionClosed:
            pass
        finally:
            if limit is not None:
                limit.cancel()
            await self._stop_reply(call)
            self._last_session = call.session
            logger.debug(f"{self} call ended")

    async def _expire(self, call: _Call) -> None:
        """The session-duration limit: an ``error`` (``session_expired``), then the socket closes."""
        await asyncio.sleep(self.session_limit_s or 0.0)
        await self._send_error(
            call, "Your session hit the maximum duration of 60 minutes.", code="session_expired"
        )
        await call.ws.close(1000, "session expired")

    async def _on_message(self, call: _Call, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self._record(self.received, {"type": None, "binary": len(message)})
            await self._send_error(
                call, "Binary websocket messages are not supported", code="invalid_message"
            )
            return
        try:
            data = json.loads(message)
        except json.JSONDecodeError as exc:
            self._record(self.received, {"type": None, "unparsed": message[:200]})
            await self._send_error(call, f"Invalid JSON: {exc}", code="invalid_json")
            return
        if not isinstance(data, dict):
            self._record(self.received, {"type": None, "unparsed": message[:200]})
            await self._send_error(call, "A client event must be a JSON object", code="invalid_event")
            return
        self._record(self.received, data)
        client_event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
        try:
            event = self._validate(data)
            await self._dispatch(call, data, event)
        except _EventRejected as exc:
            await self._send_error(
                call, exc.message, code=exc.code, param=exc.param, client_event_id=client_event_id
            )

    def _validate(self, data: dict[str, Any]) -> pydantic.BaseModel:
        event_type = data.get("type")
        model = _CLIENT_EVENT_MODELS.get(event_type) if isinstance(event_type, str) else None
        if model is None:
            raise _EventRejected(
                f"Invalid value: {event_type!r}. "
                f"Supported values are: {', '.join(sorted(_CLIENT_EVENT_MODELS))}.",
                code="invalid_value",
                param="type",
            )
        try:
            event = model.model_validate(data)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            param = ".".join(str(part) for part in first["loc"])
            raise _EventRejected(
                f"Invalid {event_type} event: {param}: {first['msg']} ({exc.error_count()} error(s))",
                code="invalid_value",
                param=param,
            ) from None
        extras = list(extra_field_paths(event))
        if extras:
            raise _EventRejected(
                f"Unknown parameter: '{extras[0]}'."
                + (f" (also: {', '.join(extras[1:])})" if extras[1:] else ""),
                code="unknown_parameter",
                param=extras[0],
            )
        return event

    async def _dispatch(self, call: _Call, data: dict[str, Any], event: pydantic.BaseModel) -> None:
        event_type = data["type"]
        if event_type == "session.update":
            await self._on_session_update(call, data)
        elif event_type == "input_audio_buffer.append":
            await self._on_append(call, data["audio"])
        elif event_type == "input_audio_buffer.commit":
            if call.buffer_ms < 100:
                raise _EventRejected(
                    "Error committing input audio buffer: buffer too small. "
                    "Expected at least 100ms of audio, "
                    f"but buffer only has {call.buffer_ms:.2f}ms of audio.",
                    code="input_audio_buffer_commit_empty",
                )
            await self._commit_user_turn(call, call.speech_item_id or self._new_id("item"), respond=False)
        elif event_type == "input_audio_buffer.clear":
            call.buffer_ms = 0
            await self._send(
                call,
                InputAudioBufferClearedEvent(
                    type="input_audio_buffer.cleared", event_id=self._new_id("event")
                ),
            )
        elif event_type == "response.create":
            if call.reply is not None:
                raise _EventRejected(
                    f"Conversation already has an active response in progress: {call.reply.response_id}. "
                    "Wait until the response is finished before creating a new one.",
                    code="conversation_already_has_active_response",
                )
            self._start_reply(call)
        elif event_type == "response.cancel":
            reply = call.reply
            wanted = data.get("response_id")
            if reply is None or (wanted is not None and wanted != reply.response_id):
                raise _EventRejected(
                    "Cancellation failed: no active response found", code="response_cancel_not_active"
                )
            await self._stop_reply(call, reason="client_cancelled")
        elif event_type == "conversation.item.truncate":
            await self._on_truncate(call, data)
        elif event_type == "conversation.item.create":
            await self._on_item_create(call, data)
        elif event_type == "conversation.item.delete":
            item_id = data["item_id"]
            if call.items.pop(item_id, None) is None:
                raise _EventRejected(
                    f"Item with item_id not found: {item_id}", code="item_not_found", param="item_id"
                )
            await self._send(
                call,
                ConversationItemDeletedEvent(
                    type="conversation.item.deleted", event_id=self._new_id("event"), item_id=item_id
                ),
            )
        elif event_type == "conversation.item.retrieve":
            item = call.items.get(data["item_id"])
            if item is None:
                raise _EventRejected(
                    f"Item with item_id not found: {data['item_id']}", code="item_not_found", param="item_id"
                )
            await self._send(
                call,
                ConversationItemRetrieved.model_validate(
                    {"type": "conversation.item.retrieved", "event_id": self._new_id("event"), "item": item}
                ),
            )
        elif event_type == "output_audio_buffer.clear":
            raise _EventRejected(
                "output_audio_buffer.clear is only supported for WebRTC and SIP connections",
                code="unsupported_event",
            )

    # ------------------------------------------------------------------ session

    async def _on_session_update(self, call: _Call, data: dict[str, Any]) -> None:
        update = data["session"]
        if update.get("type") != "realtime":
            raise _EventRejected(
                "The stand-in supports only 'realtime' sessions", code="invalid_value", param="session.type"
            )
        if self.session_confirm_delay:
            await asyncio.sleep(self.session_confirm_delay)
        session = call.session
        for direction in ("input", "output"):
            fmt = ((update.get("audio") or {}).get(direction) or {}).get("format")
            if isinstance(fmt, dict) and fmt.get("type", "audio/pcm") == "audio/pcm":
                fmt.setdefault("type", "audio/pcm")
                fmt.setdefault("rate", 24000)
        for key, value in update.items():
            if key == "audio" and isinstance(value, dict):
                for direction, settings in value.items():
                    if isinstance(settings, dict):
                        session["audio"].setdefault(direction, {}).update(settings)
            elif key != "model":
                session[key] = value
        if session["audio"]["input"].get("turn_detection") is not None:
            defaults = dict(_DEFAULT_TURN_DETECTION)
            if session["audio"]["input"]["turn_detection"].get("type") == "server_vad":
                defaults.update(session["audio"]["input"]["turn_detection"])
                session["audio"]["input"]["turn_detection"] = defaults
        await self._send(
            call,
            SessionUpdatedEvent.model_validate(
                {
                    "type": "session.updated",
                    "event_id": self._new_id("event"),
                    "session": self._confirmed_session(call),
                }
            ),
        )
        if self.error_after_session and not call.updated_once:
            await self._send_error(
                call,
                "The server had an error while processing your request (stand-in misbehaviour)",
                code="server_error",
            )
        call.updated_once = True

    def _format_type(self, call: _Call, direction: Literal["input", "output"]) -> str:
        fmt = call.session["audio"][direction].get("format") or {}
        return str(fmt.get("type") or "audio/pcm")

    # ------------------------------------------------------------------ caller audio

    async def _on_append(self, call: _Call, audio_b64: str) -> None:
        try:
            audio = base64.b64decode(audio_b64, validate=True)
        except ValueError:
            raise _EventRejected(
                "Invalid 'audio'. Expected base64-encoded audio bytes.", code="invalid_value", param="audio"
            ) from None
        self.appended_audio += audio
        fmt = self._format_type(call, "input")
        call.buffer_ms += len(audio) / _BYTES_PER_MS.get(fmt, 8)
        logger.debug(f"{self} append {len(audio)} bytes ({fmt}) {audio[:8].hex()}…")
        turn = call.session["audio"]["input"].get("turn_detection")
        if not turn or turn.get("type") != "server_vad" or fmt == "audio/pcma":
            return  # semantic_vad is modelled as none; A-law is not decoded here
        key = (turn.get("threshold"), turn.get("prefix_padding_ms"), turn.get("silence_duration_ms"))
        if call.vad is None or call.vad_key != key:
            call.vad_key = key
            call.vad = EnergyVad(*key) if call.vad is None else self._retuned(call.vad, *key)
        if fmt == "audio/pcmu":
            boundaries = call.vad.feed(g711.decode(audio), 8000)
        else:
            boundaries = call.vad.feed(audio[: len(audio) // 2 * 2], 24000)
        for kind, ms in boundaries:
            if kind == "started":
                await self._on_speech_started(call, ms)
            else:
                await self._on_speech_stopped(call, ms, bool(turn.get("create_response", True)))

    @staticmethod
    def _retuned(vad: EnergyVad, threshold: float, prefix_ms: int, silence_ms: int) -> EnergyVad:
        vad.gate_dbfs = -60.0 + 40.0 * threshold
        vad.prefix_padding_ms = prefix_ms
        vad.silence_duration_ms = silence_ms
        return vad

    async def _on_speech_started(self, call: _Call, audio_start_ms: int) -> None:
        call.speech_item_id = self._new_id("item")
        await self._send(
            call,
            InputAudioBufferSpeechStartedEvent(
                type="input_audio_buffer.speech_started",
                event_id=self._new_id("event"),
                audio_start_ms=audio_start_ms,
                item_id=call.speech_item_id,
            ),
        )
        turn = call.session["audio"]["input"].get("turn_detection") or {}
        if call.reply is not None and turn.get("interrupt_response", True):
            await self._stop_reply(call, reason="turn_detected")

    async def _on_speech_stopped(self, call: _Call, audio_end_ms: int, create_response: bool) -> None:
        item_id = call.speech_item_id or self._new_id("item")
        await self._send(
            call,
            InputAudioBufferSpeechStoppedEvent(
                type="input_audio_buffer.speech_stopped",
                event_id=self._new_id("event"),
                audio_end_ms=audio_end_ms,
                item_id=item_id,
            ),
        )
        await self._commit_user_turn(call, item_id, respond=create_response)

    async def _commit_user_turn(self, call: _Call, item_id: str, *, respond: bool) -> None:
        previous = call.last_item_id
        await self._send(
            call,
            InputAudioBufferCommittedEvent(
                type="input_audio_buffer.committed",
                event_id=self._new_id("event"),
                item_id=item_id,
                previous_item_id=previous,
            ),
        )
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        await self._add_item(call, item, previous)
        call.buffer_ms = 0
        call.speech_item_id = None
        call.user_turns += 1
        if respond and call.reply is None:
            self._start_reply(call)

    async def _add_item(self, call: _Call, item: dict[str, Any], previous: str | None) -> None:
        call.items[item["id"]] = item
        call.last_item_id = item["id"]
        for event_model, event_type in (
            (ConversationItemAdded, "conversation.item.added"),
            (ConversationItemDone, "conversation.item.done"),
        ):
            await self._send(
                call,
                event_model.model_validate(
                    {
                        "type": event_type,
                        "event_id": self._new_id("event"),
                        "item": item,
                        "previous_item_id": previous,
                    }
                ),
            )

    async def _on_item_create(self, call: _Call, data: dict[str, Any]) -> None:
        item = dict(data["item"])
        item.setdefault("id", self._new_id("item"))
        item["object"] = "realtime.item"
        item.setdefault("status", "completed")
        if item["id"] in call.items:
            raise _EventRejected(
                f"Item with id '{item['id']}' already exists", code="item_exists", param="item.id"
            )
        await self._add_item(call, item, data.get("previous_item_id") or call.last_item_id)

    async def _on_truncate(self, call: _Call, data: dict[str, Any]) -> None:
        item_id = data["item_id"]
        item = call.items.get(item_id)
        if item is None or item.get("role") != "assistant":
            raise _EventRejected(
                f"Item with item_id not found: {item_id}", code="item_not_found", param="item_id"
            )
        if data["content_index"] != 0:
            raise _EventRejected(
                f"Content index {data['content_index']} out of range",
                code="invalid_value",
                param="content_index",
            )
        produced = call.produced_ms.get(item_id, 0)
        if data["audio_end_ms"] > produced:
            raise _EventRejected(
                f"Audio content of {produced}ms is already shorter than {data['audio_end_ms']}ms",
                code="invalid_value",
                param="audio_end_ms",
            )
        if call.reply is not None and call.reply.item_id == item_id:
            await self._stop_reply(call, reason="client_cancelled")
        call.produced_ms[item_id] = data["audio_end_ms"]
        await self._send(
            call,
            ConversationItemTruncatedEvent(
                type="conversation.item.truncated",
                event_id=self._new_id("event"),
                item_id=item_id,
                content_index=0,
                audio_end_ms=data["audio_end_ms"],
            ),
        )

    # ------------------------------------------------------------------ replies

    def _start_reply(self, call: _Call) -> None:
        if self.function_call is not None and call.user_turns > 0 and not call.function_called:
            call.function_called = True
            reply = _Reply(self._new_id("resp"), self._new_id("item"), "")
            name, arguments = self.function_call
            reply.function_call = (name, self._new_id("call"), json.dumps(arguments))
            call.reply = reply
            reply.task = asyncio.create_task(self._run_reply(call, reply), name=f"{self} {reply.response_id}")
            return
        if self.greeting and call.user_turns == 0:
            clip = "bot_greeting"
        else:
            clip = self.reply_clips[call.reply_count % len(self.reply_clips)]
            call.reply_count += 1
        reply = _Reply(self._new_id("resp"), self._new_id("item"), clip)
        call.reply = reply
        reply.task = asyncio.create_task(self._run_reply(call, reply), name=f"{self} {reply.response_id}")

    async def _stop_reply(
        self, call: _Call, reason: Literal["turn_detected", "client_cancelled"] | None = None
    ) -> None:
        """Stop the reply in progress; with a reason, finish it as ``cancelled`` on the wire."""
        reply = call.reply
        if reply is None or reply.task is None:
            return
        reply.cancel_reason = reason
        if reply.task is not asyncio.current_task():
            reply.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await reply.task
        if reason is not None and call.reply is reply:
            with contextlib.suppress(ConnectionClosed):
                await self._finish_reply(call, reply, status="cancelled")

    def _response(
        self, call: _Call, reply: _Reply, status: str, item: dict[str, Any] | None
    ) -> dict[str, Any]:
        fmt = call.session["audio"]["output"].get("format") or {"type": "audio/pcm", "rate": 24000}
        response: dict[str, Any] = {
            "id": reply.response_id,
            "object": "realtime.response",
            "status": status,
            "status_details": None,
            "output": [item] if item is not None else [],
            "conversation_id": "conv_standin",
            "output_modalities": ["audio"],
            "max_output_tokens": "inf",
            "audio": {"output": {"format": fmt, "voice": call.session["audio"]["output"].get("voice")}},
            "usage": None,
            "metadata": None,
        }
        if status == "cancelled":
            response["status_details"] = {"type": "cancelled", "reason": reply.cancel_reason}
        elif status == "completed":
            response["usage"] = {"total_tokens": 0, "input_tokens": 0, "output_tokens": 0}
        return response

    def _assistant_item(self, reply: _Reply, status: str, transcript: str | None) -> dict[str, Any]:
        return {
            "id": reply.item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": [{"type": "output_audio", "transcript": transcript}],
        }

    def _ids_of(self, reply: _Reply) -> dict[str, Any]:
        return {
            "response_id": reply.response_id,
            "item_id": reply.item_id,
            "output_index": 0,
            "content_index": 0,
        }

    async def _run_reply(self, call: _Call, reply: _Reply) -> None:
        """Send one whole reply, unless the call ends first."""
        try:
            if reply.function_call is not None:
                await self._send_function_call(call, reply, *reply.function_call)
            else:
                await self._send_reply(call, reply)
        except ConnectionClosed:
            logger.debug(f"{self} call closed during {reply.response_id}")
        except Exception:  # a bug in the stand-in must not vanish inside a task
            logger.exception(f"{self} reply {reply.response_id} failed")
            raise

    async def _send_reply(self, call: _Call, reply: _Reply) -> None:
        """Send created, item, content part, audio + transcript deltas, then the done events."""
        clip = load_clip(reply.clip)
        text = CLIP_TEXTS[reply.clip]
        fmt = self._format_type(call, "output")
        pcm_out = self.reply_format_override == "audio/pcm" or fmt == "audio/pcm"
        previous = call.last_item_id
        await self._send(
            call,
            ResponseCreatedEvent.model_validate(
                {
                    "type": "response.created",
                    "event_id": self._new_id("event"),
                    "response": self._response(call, reply, "in_progress", None),
                }
            ),
        )
        item = self._assistant_item(reply, "in_progress", None)
        call.items[reply.item_id] = item
        call.last_item_id = reply.item_id
        await self._send(
            call,
            ResponseOutputItemAddedEvent.model_validate(
                {
                    "type": "response.output_item.added",
                    "event_id": self._new_id("event"),
                    "response_id": reply.response_id,
                    "output_index": 0,
                    "item": item,
                }
            ),
        )
        await self._send(
            call,
            ConversationItemAdded.model_validate(
                {
                    "type": "conversation.item.added",
                    "event_id": self._new_id("event"),
                    "item": item,
                    "previous_item_id": previous,
                }
            ),
        )
        await self._send(
            call,
            ResponseContentPartAddedEvent.model_validate(
                {
                    "type": "response.content_part.added",
                    "event_id": self._new_id("event"),
                    **self._ids_of(reply),
                    "part": {"type": "audio", "transcript": ""},
                }
            ),
        )
        chunk = 8 * self.delta_ms
        chunks = [clip[i : i + chunk] for i in range(0, len(clip), chunk)]
        words = text.split(" ")
        pause = self.delta_ms / 1000 / self.speed
        for index, ulaw in enumerate(chunks):
            if self.close_mid_reply and index == len(chunks) // 2:
                logger.debug(f"{self} closing the socket mid-reply (misbehaviour)")
                await call.ws.close(1011, "stand-in closed mid-reply")
                return
            payload = self._upsample_pcm(ulaw) if pcm_out else ulaw
            await self._send(
                call,
                ResponseAudioDeltaEvent(
                    type="response.output_audio.delta",
                    event_id=self._new_id("event"),
                    delta=base64.b64encode(payload).decode("ascii"),
                    **self._ids_of(reply),
                ),
            )
            self.reply_audio += payload
            reply.sent_bytes += len(ulaw)
            call.produced_ms[reply.item_id] = reply.sent_bytes // 8
            # Spread the transcript words over the audio, like the real server's interleaving.
            first, last = index * len(words) // len(chunks), (index + 1) * len(words) // len(chunks)
            if last > first:
                await self._send(
                    call,
                    ResponseAudioTranscriptDeltaEvent(
                        type="response.output_audio_transcript.delta",
                        event_id=self._new_id("event"),
                        delta=(" " if first else "") + " ".join(words[first:last]),
                        **self._ids_of(reply),
                    ),
                )
            if math.isfinite(pause):
                await asyncio.sleep(pause)
            else:
                await asyncio.sleep(0)
        await self._finish_reply(call, reply, status="completed")

    async def _send_function_call(
        self, call: _Call, reply: _Reply, name: str, call_id: str, arguments: str
    ) -> None:
        """Send a response whose only output is a function call item, as the real server does."""
        previous = call.last_item_id
        await self._send(
            call,
            ResponseCreatedEvent.model_validate(
                {
                    "type": "response.created",
                    "event_id": self._new_id("event"),
                    "response": self._response(call, reply, "in_progress", None),
                }
            ),
        )
        item: dict[str, Any] = {
            "id": reply.item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": name,
            "call_id": call_id,
            "arguments": "",
        }
        call.items[reply.item_id] = item
        call.last_item_id = reply.item_id
        common = {"event_id": self._new_id("event"), "response_id": reply.response_id, "output_index": 0}
        await self._send(
            call,
            ResponseOutputItemAddedEvent.model_validate(
                {"type": "response.output_item.added", **common, "item": item}
            ),
        )
        await self._send(
            call,
            ConversationItemAdded.model_validate(
                {
                    "type": "conversation.item.added",
                    "event_id": self._new_id("event"),
                    "item": item,
                    "previous_item_id": previous,
                }
            ),
        )
        ids: dict[str, Any] = {
            "response_id": reply.response_id,
            "item_id": reply.item_id,
            "output_index": 0,
            "call_id": call_id,
        }
        await self._send(
            call,
            ResponseFunctionCallArgumentsDeltaEvent(
                type="response.function_call_arguments.delta",
                event_id=self._new_id("event"),
                delta=arguments,
                **ids,
            ),
        )
        await self._send(
            call,
            ResponseFunctionCallArgumentsDoneEvent(
                type="response.function_call_arguments.done",
                event_id=self._new_id("event"),
                arguments=arguments,
                name=name,
                **ids,
            ),
        )
        item = {**item, "status": "completed", "arguments": arguments}
        call.items[reply.item_id] = item
        await self._send(
            call,
            ResponseOutputItemDoneEvent.model_validate(
                {
                    "type": "response.output_item.done",
                    **common,
                    "event_id": self._new_id("event"),
                    "item": item,
                }
            ),
        )
        await self._send(
            call,
            ConversationItemDone.model_validate(
                {"type": "conversation.item.done", "event_id": self._new_id("event"), "item": item}
            ),
        )
        call.reply = None
        await self._send(
            call,
            ResponseDoneEvent.model_validate(
                {
                    "type": "response.done",
                    "event_id": self._new_id("event"),
                    "response": self._response(call, reply, "completed", item),
                }
            ),
        )

    async def _finish_reply(
        self, call: _Call, reply: _Reply, *, status: Literal["completed", "cancelled"]
    ) -> None:
        call.reply = None
        if reply.function_call is not None:  # cancelled before its item was complete
            await self._send(
                call,
                ResponseDoneEvent.model_validate(
                    {
                        "type": "response.done",
                        "event_id": self._new_id("event"),
                        "response": self._response(call, reply, status, None),
                    }
                ),
            )
            return
        if status == "completed":
            text = CLIP_TEXTS[reply.clip]
        else:  # the transcript of what was produced so far, roughly
            words = CLIP_TEXTS[reply.clip].split(" ")
            produced = reply.sent_bytes / max(1, len(load_clip(reply.clip)))
            text = " ".join(words[: int(len(words) * produced)])
        item_status = "completed" if status == "completed" else "incomplete"
        item = self._assistant_item(reply, item_status, text)
        call.items[reply.item_id] = item
        ids = self._ids_of(reply)
        await self._send(
            call,
            ResponseAudioDoneEvent(type="response.output_audio.done", event_id=self._new_id("event"), **ids),
        )
        await self._send(
            call,
            ResponseAudioTranscriptDoneEvent(
                type="response.output_audio_transcript.done",
                event_id=self._new_id("event"),
                transcript=text,
                **ids,
            ),
        )
        await self._send(
            call,
            ResponseContentPartDoneEvent.model_validate(
                {
                    "type": "response.content_part.done",
                    "event_id": self._new_id("event"),
                    **ids,
                    "part": {"type": "audio", "transcript": text},
                }
            ),
        )
        await self._send(
            call,
            ResponseOutputItemDoneEvent.model_validate(
                {
                    "type": "response.output_item.done",
                    "event_id": self._new_id("event"),
                    "response_id": reply.response_id,
                    "output_index": 0,
                    "item": item,
                }
            ),
        )
        await self._send(
            call,
            ConversationItemDone.model_validate(
                {"type": "conversation.item.done", "event_id": self._new_id("event"), "item": item}
            ),
        )
        await self._send(
            call,
            ResponseDoneEvent.model_validate(
                {
                    "type": "response.done",
                    "event_id": self._new_id("event"),
                    "response": self._response(call, reply, status, item),
                }
            ),
        )

    @staticmethod
    def _upsample_pcm(ulaw: bytes) -> bytes:
        """Decode μ-law and repeat each sample 3× — crude 24 kHz PCM16, for the ``audio/pcm`` misbehaviour."""
        samples = array("h")
        samples.frombytes(g711.decode(ulaw))
        tripled = array("h", (s for s in samples for _ in range(3)))
        return tripled.tobytes()
