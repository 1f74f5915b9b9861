"""The stand-in's transport: the socket, the handshake faults, recording, waiting, sending, dispatch.

:class:`StandInBase` is the part of :class:`~.server.RealtimeStandIn` that does I/O and bookkeeping; the
protocol behaviour (session, turns, items) is in ``server.py`` and the replies in ``speaking.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Self

from loguru import logger
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from .events import error_event, server_event
from .faults import Faults, swallow_handshake
from .pacing import Pacing
from .replies import CancelReason, Reply
from .session import SessionRecord, confirmed_session, initial_session
from .vad import EnergyVad
from .validation import EventRejected, validate_client_event

__all__ = ["Call", "EventPredicate", "StandInBase"]

EventPredicate = Callable[[dict[str, Any]], bool]


class Call:
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
        self.responses = 0  # responses started on this connection
        self.pending_input_ms = 0.0  # caller audio committed since the last response started
        self.pending_text_tokens = 0  # text items added since then (.usage)
        self.pressed: str | None = None  # the key a user text item said was pressed, not yet answered
        self.warned_fields: set[str] = set()  # session.update fields already warned about


class StandInBase:
    """Socket, recording and dispatch of the stand-in (see :class:`~.server.RealtimeStandIn`)."""

    greeting: bool
    reply_clips: tuple[str, ...]
    pacing: Pacing
    _pacing_rng: random.Random
    model: str
    function_call: tuple[str, dict[str, Any]] | None
    digit_calls: dict[str, tuple[str, dict[str, Any]]]
    faults: Faults
    received: list[dict[str, Any]]
    sent: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    appended_audio: bytes
    reply_audio: bytes
    reported_usage: list[dict[str, Any]]
    connections: list[dict[str, Any]]
    sessions: list[SessionRecord]
    _handlers: dict[str, Callable[[Call, dict[str, Any]], Awaitable[None]]]

    def _setup(self) -> None:
        """The recordings and the server state (called by the subclass's ``__init__``)."""
        self.received, self.sent, self.errors = [], [], []
        self.appended_audio = self.reply_audio = b""
        self.reported_usage = []
        self.connections, self.sessions = [], []
        self._server: Server | None = None
        self._raw: asyncio.Server | None = None
        self._raw_writers: set[asyncio.StreamWriter] = set()
        self._replies = 0
        self._rng = random.Random(0)
        self._port = 0
        self._call: Call | None = None
        self._calls: set[Call] = set()
        self._last_session: dict[str, Any] = {}
        self._ordered: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._ids = itertools.count(1)

    async def _stop_reply(self, call: Call, reason: CancelReason | None = None) -> None:
        """Stop the reply in progress (``speaking.py``)."""

    def __str__(self) -> str:
        return f"RealtimeStandIn(127.0.0.1:{self._port})"

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

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """The websocket URL to give the client (any path and query are accepted)."""
        if not self._port:
            raise RuntimeError("RealtimeStandIn is not started; use 'async with RealtimeStandIn()'")
        return f"ws://127.0.0.1:{self._port}/v1/realtime"

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

    def _record(self, bucket: list[dict[str, Any]], event: dict[str, Any]) -> None:
        bucket.append(event)
        self._ordered.append(event)
        self._changed.set()

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_standin{next(self._ids):06d}"

    def _event(self, event_type: str, **fields: Any) -> dict[str, Any]:
        return server_event(event_type, self._new_id("event"), **fields)

    async def _send(self, call: Call, event: dict[str, Any]) -> None:
        self._record(self.sent, event)
        call.record.sent.append(event)
        if event["type"] == "response.done" and event["response"].get("usage"):
            self.reported_usage.append(event["response"]["usage"])
        if event["type"] == "error":
            self.errors.append(event)
            logger.warning(f"{self} sent error: {event['error'].get('message')}")
        await call.ws.send(json.dumps(event))

    async def _send_all(self, call: Call, events: list[dict[str, Any]]) -> None:
        for event in events:
            await self._send(call, event)

    async def _send_error(self, call: Call, message: str, **kwargs: Any) -> None:
        await self._send(call, error_event(self._new_id("event"), message, **kwargs))

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
        call = Call(ws, session, SessionRecord(path))
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

    def _confirmed(self, call: Call) -> dict[str, Any]:
        return confirmed_session(call.session, output_format=self.faults.confirmed_output_format())

    async def _expire(self, call: Call) -> None:
        """The session-duration limit: an ``error`` (``session_expired``), then the socket closes."""
        await asyncio.sleep(self.faults.session_limit_s or 0.0)
        await self._send_error(call, Faults.SESSION_EXPIRED, code="session_expired")
        await call.ws.close(1000, "session expired")

    async def _drop(self, call: Call, after_s: float) -> None:
        await asyncio.sleep(after_s)
        logger.debug(f"{self} dropping the connection (misbehaviour)")
        await call.ws.close(1011, "stand-in dropped the connection")

    async def _on_message(self, call: Call, message: str | bytes) -> None:
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
