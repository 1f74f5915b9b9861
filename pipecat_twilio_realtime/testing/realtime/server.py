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
* it can misbehave on purpose (:class:`~.faults.Faults`): refuse or never
  answer the handshake, never confirm or confirm late, confirm and send
  ``audio/pcm``, send noise as ``audio/pcmu``, stall or close mid-reply, drop
  the connection, expire the session, send an ``error`` or an oversized delta.

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
modelled: text-only output, transcription sessions, input transcription, rate limits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from loguru import logger
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ... import g711
from ..clips import CLIP_NAMES, CLIP_TEXTS, load_clip
from . import items, replies
from .events import error_event, server_event
from .faults import Faults, swallow_handshake
from .replies import CancelReason, Reply
from .session import (
    BYTES_PER_MS,
    SessionRecord,
    confirmed_session,
    format_type,
    initial_session,
    merge_update,
)
from .vad import EnergyVad
from .validation import EventRejected, validate_client_event

__all__ = ["RealtimeStandIn"]

EventPredicate = Callable[[dict[str, Any]], bool]


class _Call:
    """Per-connection protocol state."""

    def __init__(self, ws: ServerConnection, session: dict[str, Any], record: SessionRecord) -> None:
        self.ws = ws
        self.session = session
        self.record = record
        self.task = asyncio.current_task()
        self.vad: EnergyVad | None = None
        self.vad_key: tuple[Any, ...] | None = None
        self.buffer_ms = 0.0
        self.speech_item_id: str | None = None
        self.user_turns = 0
        self.last_item_id: str | None = None
        self.items: dict[str, dict[str, Any]] = {}
        self.produced_ms: dict[str, int] = {}  # audio sent per assistant item
        self.truncated_ms: dict[str, int] = {}  # where a truncate cut it: the new limit
        self.reply: Reply | None = None
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
        sessions: One :class:`~.session.SessionRecord` per websocket accepted: what that
            connection received and sent (e.g. what a reconnected session was given).
        faults: The misbehaviours on (may be replaced between connections).
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
        faults: Faults | None = None,
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
            faults: Every misbehaviour switch (:class:`~.faults.Faults`); when given, the switches above
                (``reply_format_override`` to ``session_limit_s``) are ignored.

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
        self.model = model
        self.function_call = function_call
        self.faults = faults or Faults(
            reply_format_override,
            close_mid_reply,
            error_after_session,
            session_confirm_delay,
            session_limit_s,
        )

        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.appended_audio = b""
        self.reply_audio = b""
        self.connections: list[dict[str, Any]] = []
        self.sessions: list[SessionRecord] = []

        self._server: Server | None = None
        self._raw: asyncio.Server | None = None
        self._raw_writers: set[asyncio.StreamWriter] = set()
        self._replies = 0
        self._rng = random.Random(0)
        self._port = 0
        self._call: _Call | None = None
        self._calls: set[_Call] = set()
        self._last_session: dict[str, Any] = {}
        self._ordered: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._ids = itertools.count(1)
        self._handlers: dict[str, Callable[[_Call, dict[str, Any]], Awaitable[None]]] = {
            "session.update": self._on_session_update,
            "input_audio_buffer.append": lambda call, data: self._on_append(call, data["audio"]),
            "input_audio_buffer.commit": self._on_commit,
            "input_audio_buffer.clear": self._on_buffer_clear,
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
            "conversation.item.truncate": self._on_truncate,
            "conversation.item.create": self._on_item_create,
            "conversation.item.delete": self._on_item_delete,
            "conversation.item.retrieve": lambda call, data: self._send(
                call,
                self._event("conversation.item.retrieved", item=items.find_item(call.items, data["item_id"])),
            ),
            "output_audio_buffer.clear": self._on_output_audio_buffer_clear,
        }

    def __str__(self) -> str:
        return f"RealtimeStandIn(127.0.0.1:{self._port})"

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start listening on 127.0.0.1 (a free port)."""
        if self.faults.hang_handshake:
            self._raw = await asyncio.start_server(self._swallow, "127.0.0.1", 0)
            self._port = self._raw.sockets[0].getsockname()[1]
        else:
            self._server = await serve(
                self._handle,
                "127.0.0.1",
                0,
                max_size=2**24,
                process_request=lambda connection, request: self.faults.handshake(connection, request),
            )
            self._port = next(iter(self._server.sockets)).getsockname()[1]
        logger.debug(f"{self} listening")

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._raw_writers.add(writer)
        try:
            await swallow_handshake(reader, writer)
        finally:
            self._raw_writers.discard(writer)

    async def stop(self) -> None:
        """Close every connection, cancel whatever a call was waiting on and stop listening."""
        if self._raw is not None:
            self._raw.close()
            for writer in list(self._raw_writers):
                writer.close()
            await self._raw.wait_closed()
            self._raw = None
        if self._server is not None:
            self._server.close()
            for call in list(self._calls):
                if call.task is not None:  # e.g. sleeping through session_confirm_delay
                    call.task.cancel()
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
        """Return how many milliseconds of audio the stand-in sent for an assistant item.

        A ``conversation.item.truncate`` does not change it (what was sent stays sent); the
        truncated length is in the ``conversation.item.truncated`` event, and a later truncate
        beyond it is rejected, as on the real server.

        Args:
            item_id: The ``item_id`` of ``response.output_audio.delta`` events.

        Returns:
            Milliseconds (0 if unknown).
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
            matches = [event for event in self._ordered if check(event)]
            return matches[count - 1] if len(matches) >= count else None

        try:
            async with asyncio.timeout(timeout):
                while (found := find()) is None:
                    self._changed.clear()
                    await self._changed.wait()
                return found
        except TimeoutError:
            seen = [e.get("type") for e in self._ordered][-30:]
            raise TimeoutError(
                f"{self}: no match for {predicate!r} (count={count}); last events: {seen}"
            ) from None

    # ------------------------------------------------------------ recording and sending

    def _record(self, bucket: list[dict[str, Any]], event: dict[str, Any]) -> None:
        bucket.append(event)
        self._ordered.append(event)
        self._changed.set()

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_standin{next(self._ids):06d}"

    def _event(self, event_type: str, **fields: Any) -> dict[str, Any]:
        return server_event(event_type, self._new_id("event"), **fields)

    async def _send(self, call: _Call, event: dict[str, Any]) -> None:
        self._record(self.sent, event)
        call.record.sent.append(event)
        if event["type"] == "error":
            self.errors.append(event)
            logger.warning(f"{self} sent error: {event['error'].get('message')}")
        await call.ws.send(json.dumps(event))

    async def _send_all(self, call: _Call, events: list[dict[str, Any]]) -> None:
        for event in events:
            await self._send(call, event)

    async def _send_error(self, call: _Call, message: str, **kwargs: Any) -> None:
        await self._send(call, error_event(self._new_id("event"), message, **kwargs))

    # ------------------------------------------------------------------ the call

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
        session = initial_session(path, self.model, self._new_id("sess"), int(time.time()) + 3600)
        call = _Call(ws, session, SessionRecord(path))
        self.sessions.append(call.record)
        self._call = call
        self._calls.add(call)
        logger.debug(f"{self} call connected on {path}")
        timers = [asyncio.create_task(self._expire(call))] if self.faults.session_limit_s is not None else []
        if self.faults.drop_after_s is not None and len(self.sessions) == 1:
            timers.append(asyncio.create_task(self._drop(call, self.faults.drop_after_s)))
        try:
            await self._send(call, self._event("session.created", session=self._confirmed(call)))
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
            self._calls.discard(call)
            for timer in timers:
                timer.cancel()
            await self._stop_reply(call)
            self._last_session = call.session
            logger.debug(f"{self} call ended")

    def _confirmed(self, call: _Call) -> dict[str, Any]:
        return confirmed_session(call.session, output_format=self.faults.confirmed_output_format())

    async def _expire(self, call: _Call) -> None:
        """The session-duration limit: an ``error`` (``session_expired``), then the socket closes."""
        await asyncio.sleep(self.faults.session_limit_s or 0.0)
        await self._send_error(call, Faults.SESSION_EXPIRED, code="session_expired")
        await call.ws.close(1000, "session expired")

    async def _drop(self, call: _Call, after_s: float) -> None:
        await asyncio.sleep(after_s)
        logger.debug(f"{self} dropping the connection (misbehaviour)")
        await call.ws.close(1011, "stand-in dropped the connection")

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
        call.record.received.append(data)
        client_event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
        try:
            validate_client_event(data)
            await self._handlers[data["type"]](call, data)
        except EventRejected as exc:
            await self._send_error(
                call, exc.message, code=exc.code, param=exc.param, client_event_id=client_event_id
            )

    # ------------------------------------------------------------------ session

    async def _on_session_update(self, call: _Call, data: dict[str, Any]) -> None:
        update = data["session"]
        if update.get("type") != "realtime":
            raise EventRejected(
                "The stand-in supports only 'realtime' sessions", code="invalid_value", param="session.type"
            )
        if self.faults.session_confirm_delay:
            await asyncio.sleep(self.faults.session_confirm_delay)
        merge_update(call.session, update)
        if self.faults.never_confirm:
            return
        await self._send(call, self._event("session.updated", session=self._confirmed(call)))
        if self.faults.errors_after_update(not call.updated_once):
            await self._send_error(call, Faults.SERVER_ERROR, code="server_error")
        call.updated_once = True

    # ------------------------------------------------------------------ caller audio

    async def _on_append(self, call: _Call, audio_b64: str) -> None:
        try:
            audio = base64.b64decode(audio_b64, validate=True)
        except ValueError:
            raise EventRejected(
                "Invalid 'audio'. Expected base64-encoded audio bytes.", code="invalid_value", param="audio"
            ) from None
        self.appended_audio += audio
        fmt = format_type(call.session, "input")
        call.buffer_ms += len(audio) / BYTES_PER_MS.get(fmt, 8)
        logger.debug(f"{self} append {len(audio)} bytes ({fmt}) {audio[:8].hex()}…")
        turn = call.session["audio"]["input"].get("turn_detection")
        if not turn or turn.get("type") != "server_vad" or fmt == "audio/pcma":
            return  # semantic_vad is modelled as none; A-law is not decoded here
        vad = self._vad(call, turn)
        if fmt == "audio/pcmu":
            boundaries = vad.feed(g711.decode(audio), 8000)
        else:
            boundaries = vad.feed(audio[: len(audio) // 2 * 2], 24000)
        for kind, ms in boundaries:
            if kind == "started":
                await self._on_speech_started(call, ms)
            else:
                await self._on_speech_stopped(call, ms, bool(turn.get("create_response", True)))

    @staticmethod
    def _vad(call: _Call, turn: dict[str, Any]) -> EnergyVad:
        """The call's VAD, created or retuned to the session's current settings."""
        key: tuple[Any, Any, Any] = (
            turn.get("threshold"),
            turn.get("prefix_padding_ms"),
            turn.get("silence_duration_ms"),
        )
        if call.vad is None:
            call.vad = EnergyVad(*key)
        elif call.vad_key != key:
            call.vad.retune(*key)
        call.vad_key = key
        return call.vad

    async def _on_commit(self, call: _Call, data: dict[str, Any]) -> None:
        if call.buffer_ms < 100:
            raise EventRejected(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {call.buffer_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        await self._commit_user_turn(call, call.speech_item_id or self._new_id("item"), respond=False)

    async def _on_buffer_clear(self, call: _Call, data: dict[str, Any]) -> None:
        call.buffer_ms = 0
        await self._send(call, self._event("input_audio_buffer.cleared"))

    async def _on_speech_started(self, call: _Call, audio_start_ms: int) -> None:
        call.speech_item_id = self._new_id("item")
        await self._send(
            call,
            self._event(
                "input_audio_buffer.speech_started",
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
            call, self._event("input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms, item_id=item_id)
        )
        await self._commit_user_turn(call, item_id, respond=create_response)

    async def _commit_user_turn(self, call: _Call, item_id: str, *, respond: bool) -> None:
        previous = call.last_item_id
        await self._send(
            call, self._event("input_audio_buffer.committed", item_id=item_id, previous_item_id=previous)
        )
        await self._add_item(call, items.user_audio_item(item_id), previous)
        call.buffer_ms = 0
        call.speech_item_id = None
        call.user_turns += 1
        if respond and call.reply is None:
            self._start_reply(call)

    # ------------------------------------------------------------------ conversation items

    async def _add_item(self, call: _Call, item: dict[str, Any], previous: str | None) -> None:
        call.items[item["id"]] = item
        call.last_item_id = item["id"]
        for event_type in ("conversation.item.added", "conversation.item.done"):
            await self._send(call, self._event(event_type, item=item, previous_item_id=previous))

    async def _on_item_create(self, call: _Call, data: dict[str, Any]) -> None:
        item = items.create_item(call.items, data, self._new_id("item"))
        await self._add_item(call, item, data.get("previous_item_id") or call.last_item_id)

    async def _on_item_delete(self, call: _Call, data: dict[str, Any]) -> None:
        items.delete_item(call.items, data["item_id"])
        await self._send(call, self._event("conversation.item.deleted", item_id=data["item_id"]))

    async def _on_truncate(self, call: _Call, data: dict[str, Any]) -> None:
        item_id = data["item_id"]
        produced = call.produced_ms.get(item_id, 0)
        audio_end_ms = items.truncate_limit(call.items, data, produced, call.truncated_ms.get(item_id))
        if call.reply is not None and call.reply.item_id == item_id:
            await self._stop_reply(call, reason="client_cancelled")
        call.truncated_ms[item_id] = audio_end_ms
        await self._send(
            call,
            self._event(
                "conversation.item.truncated", item_id=item_id, content_index=0, audio_end_ms=audio_end_ms
            ),
        )

    async def _on_output_audio_buffer_clear(self, call: _Call, data: dict[str, Any]) -> None:
        raise EventRejected(
            "output_audio_buffer.clear is only supported for WebRTC and SIP connections",
            code="unsupported_event",
        )

    # ------------------------------------------------------------------ replies

    async def _on_response_create(self, call: _Call, data: dict[str, Any]) -> None:
        if call.reply is not None:
            raise EventRejected(
                f"Conversation already has an active response in progress: {call.reply.response_id}. "
                "Wait until the response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        self._start_reply(call)

    async def _on_response_cancel(self, call: _Call, data: dict[str, Any]) -> None:
        wanted = data.get("response_id")
        if call.reply is None or (wanted is not None and wanted != call.reply.response_id):
            raise EventRejected(
                "Cancellation failed: no active response found", code="response_cancel_not_active"
            )
        await self._stop_reply(call, reason="client_cancelled")

    def _start_reply(self, call: _Call) -> None:
        reply = Reply(self._new_id("resp"), self._new_id("item"), "")
        if self.function_call is not None and call.user_turns > 0 and not call.function_called:
            call.function_called = True
            name, arguments = self.function_call
            reply.function_call = (name, self._new_id("call"), json.dumps(arguments))
        elif (
            self.greeting and call.user_turns == 0 and not call.items
        ):  # a restored conversation: no greeting
            reply.clip = "bot_greeting"
        else:
            reply.clip = self.reply_clips[call.reply_count % len(self.reply_clips)]
            call.reply_count += 1
        call.reply = reply
        reply.task = asyncio.create_task(self._run_reply(call, reply), name=f"{self} {reply.response_id}")

    async def _stop_reply(self, call: _Call, reason: CancelReason | None = None) -> None:
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

    async def _run_reply(self, call: _Call, reply: Reply) -> None:
        """Send one whole reply, unless the call ends first."""
        try:
            if reply.function_call is not None:
                await self._send_function_call(call, reply)
            else:
                await self._send_reply(call, reply)
        except ConnectionClosed:
            logger.debug(f"{self} call closed during {reply.response_id}")
        except Exception:  # a bug in the stand-in must not vanish inside a task
            logger.exception(f"{self} reply {reply.response_id} failed")
            raise

    async def _open_reply(self, call: _Call, reply: Reply, item: dict[str, Any]) -> None:
        previous = call.last_item_id
        call.items[reply.item_id] = item
        call.last_item_id = reply.item_id
        await self._send_all(call, replies.reply_opening(reply, call.session, item, previous, self._new_id))

    async def _send_reply(self, call: _Call, reply: Reply) -> None:
        """Open the reply, stream its audio with the transcript interleaved, then finish it."""
        clip = load_clip(reply.clip)
        words = CLIP_TEXTS[reply.clip].split(" ")
        pcm_out = self.faults.sends_pcm(format_type(call.session, "output"))
        await self._open_reply(call, reply, replies.assistant_item(reply, "in_progress", None))
        chunk = 8 * self.delta_ms
        chunks = [clip[i : i + chunk] for i in range(0, len(clip), chunk)]
        pause = self.delta_ms / 1000 / self.speed
        self._replies += 1
        number, faults = self._replies, self.faults
        if faults.oversize_delta_bytes and number == 1:
            big = base64.b64encode(b"\xff" * faults.oversize_delta_bytes).decode("ascii")
            await self._send(call, replies.audio_delta(reply, big, self._new_id))
        for index, ulaw in enumerate(chunks):
            if faults.closes_at(index, len(chunks), number):
                logger.debug(f"{self} closing the socket mid-reply (misbehaviour)")
                await call.ws.close(1011, "stand-in closed mid-reply")
                return
            if faults.stalls_at(index, len(chunks), number):
                logger.debug(f"{self} stalling {faults.stall_s} s mid-reply (misbehaviour)")
                await asyncio.sleep(faults.stall_s or 0.0)
            noisy = faults.noisy(ulaw, self._rng, index * chunk)
            payload = replies.pcm24k_from_ulaw(ulaw) if pcm_out else noisy
            delta = base64.b64encode(payload).decode("ascii")
            await self._send(call, replies.audio_delta(reply, delta, self._new_id))
            self.reply_audio += payload
            reply.sent_bytes += len(ulaw)
            call.produced_ms[reply.item_id] = reply.sent_bytes // 8
            text = replies.transcript_delta(words, index, len(chunks), reply, self._new_id)
            if text is not None:
                await self._send(call, text)
            await asyncio.sleep(pause if math.isfinite(pause) else 0)
        await self._finish_reply(call, reply, status="completed")

    async def _send_function_call(self, call: _Call, reply: Reply) -> None:
        """A response whose only output is a function call item, as the real server sends it."""
        await self._open_reply(call, reply, replies.function_call_item(reply, "in_progress", ""))
        await self._send_all(call, replies.function_call_arguments(reply, self._new_id))
        assert reply.function_call is not None
        item = replies.function_call_item(reply, "completed", reply.function_call[2])
        call.items[reply.item_id] = item
        *item_done, response_done = replies.item_closing(reply, call.session, "completed", item, self._new_id)
        await self._send_all(call, item_done)
        call.reply = None
        await self._send(call, response_done)

    async def _finish_reply(
        self, call: _Call, reply: Reply, *, status: Literal["completed", "cancelled"]
    ) -> None:
        call.reply = None
        if reply.function_call is not None:  # cancelled before its item was complete
            await self._send(call, replies.cancelled_function_call(reply, call.session, status, self._new_id))
            return
        text = replies.transcript_so_far(reply, len(load_clip(reply.clip)), status == "completed")
        item = replies.assistant_item(reply, "completed" if status == "completed" else "incomplete", text)
        call.items[reply.item_id] = item
        await self._send_all(call, replies.audio_closing(reply, text, self._new_id))
        await self._send_all(call, replies.item_closing(reply, call.session, status, item, self._new_id))
