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
* it detects caller speech turns from the appended audio as the session's
  ``turn_detection`` says (``server_vad``, ``semantic_vad`` with its eagerness, or
  ``null``: the client commits; energy-based, see :class:`EnergyVad` and
  ``docs/standin.md``), honours ``create_response``/``interrupt_response``, logs a
  warning naming each ``session.update`` field it does not model, replies with real speech (the shipped μ-law
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
import random
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from loguru import logger

from ... import g711
from ..clips import CLIP_NAMES
from . import items, replies
from .base import Call, EventPredicate
from .faults import Faults
from .pacing import ModelPacing, Pacing, SteadyPacing
from .session import BYTES_PER_MS, format_type, merge_update, unmodelled_fields
from .speaking import ReplyPlayer
from .usage import item_text, text_tokens
from .vad import EnergyVad
from .validation import EventRejected

__all__ = ["EventPredicate", "RealtimeStandIn"]


class RealtimeStandIn(ReplyPlayer):
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
        reported_usage: The ``usage`` of every ``response.done`` sent, in order (GA shape, see
            :mod:`.usage` for how the tokens are counted).
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
        speed: float | None = None,
        pacing: Pacing | None = None,
        reply_format_override: Literal["audio/pcm"] | None = None,
        close_mid_reply: bool = False,
        error_after_session: bool = False,
        session_confirm_delay: float = 0.0,
        model: str = "gpt-realtime",
        function_call: tuple[str, dict[str, Any]] | None = None,
        digit_calls: Mapping[str, tuple[str, dict[str, Any]]] | None = None,
        session_limit_s: float | None = None,
        faults: Faults | None = None,
    ) -> None:
        """Configure the stand-in.

        Args:
            greeting: When a ``response.create`` arrives before the caller has said
                anything, speak the ``bot_greeting`` clip (otherwise the next reply clip).
            reply_clips: Clip names used, in turn (cycling), for replies to caller turns.
            delta_ms: Audio per ``response.output_audio.delta`` event, in milliseconds, when
                ``speed`` is given (steady pacing).
            speed: Steady pacing: ``delta_ms`` deltas at this many times real time (``1.0``: exactly
                real time; ``math.inf``: the whole reply without pausing). ``None`` (the default): the
                ``pacing`` given, or :class:`~.pacing.ModelPacing` — bursts of uneven deltas at 4× real
                time on average after a 350 ms first-delta latency, like a real model.
            pacing: How reply deltas are paced (:class:`~.pacing.ModelPacing`,
                :class:`~.pacing.SteadyPacing`, :data:`~.pacing.REAL_TIME`); not with ``speed``.
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
            digit_calls: ``{digit: (name, arguments)}``: answer a user text item saying a key was pressed
                (``"The caller pressed 0."``, as ``dtmf_to_model`` sends it) with a call to that function,
                at the next response; other digits get the usual reply clip.
            session_limit_s: End each session after this many seconds, as the real server does at its
                60-minute limit: an ``error`` event with code ``session_expired``, then a close.
            faults: Every misbehaviour switch (:class:`~.faults.Faults`); when given, the switches above
                (``reply_format_override`` to ``session_limit_s``) are ignored.

        Raises:
            ValueError: For an unknown clip name, a non-positive ``delta_ms``/``speed``, or both
                ``speed`` and ``pacing``.
        """
        for clip in reply_clips:
            if clip not in CLIP_NAMES:
                raise ValueError(f"unknown reply clip {clip!r}; available: {', '.join(CLIP_NAMES)}")
        if not reply_clips:
            raise ValueError("reply_clips must name at least one clip")
        if delta_ms <= 0 or (speed is not None and speed <= 0):
            raise ValueError("delta_ms and speed must be positive")
        if speed is not None and pacing is not None:
            raise ValueError("give speed (steady pacing) or pacing, not both")
        self.greeting = greeting
        self.reply_clips = tuple(reply_clips)
        self.pacing = SteadyPacing(speed, delta_ms) if speed is not None else pacing or ModelPacing()
        self.model = model
        self.function_call = function_call
        self.digit_calls = dict(digit_calls or {})
        self.faults = faults or Faults(
            reply_format_override,
            close_mid_reply,
            error_after_session,
            session_confirm_delay,
            session_limit_s,
        )

        self._setup()
        self._pacing_rng = random.Random(self.pacing.seed if isinstance(self.pacing, ModelPacing) else 0)
        self._handlers = {
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

    async def _on_session_update(self, call: Call, data: dict[str, Any]) -> None:
        update = data["session"]
        if update.get("type") != "realtime":
            raise EventRejected(
                "The stand-in supports only 'realtime' sessions", code="invalid_value", param="session.type"
            )
        if self.faults.session_confirm_delay:
            await asyncio.sleep(self.faults.session_confirm_delay)
        self._warn_unmodelled(call, update)
        merge_update(call.session, update)
        if self.faults.never_confirm:
            return
        await self._send(call, self._event("session.updated", session=self._confirmed(call)))
        if self.faults.errors_after_update(not call.updated_once):
            await self._send_error(call, Faults.SERVER_ERROR, code="server_error")
        call.updated_once = True

    def _warn_unmodelled(self, call: Call, update: dict[str, Any]) -> None:
        """One warning line per session field the stand-in does not model (once per connection)."""
        for path, value in unmodelled_fields(update):
            if path not in call.warned_fields:
                call.warned_fields.add(path)
                shown = repr(value)
                shown = shown if len(shown) <= 80 else shown[:77] + "..."
                logger.warning(
                    f"{self} does not model session.{path} (set to {shown}): accepted and echoed, "
                    "but the stand-in behaves as if it were not set"
                )

    async def _on_append(self, call: Call, audio_b64: str) -> None:
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
        if not turn or turn.get("type") not in ("server_vad", "semantic_vad") or fmt == "audio/pcma":
            return  # turn detection off (the client commits); A-law is not decoded here
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
    def _vad(call: Call, turn: dict[str, Any]) -> EnergyVad:
        """The call's VAD, created or retuned to the session's current settings.

        ``semantic_vad`` has no ``threshold``/``prefix_padding_ms``: it uses ``server_vad``'s defaults
        (0.5, 300 ms) and ends turns by its ``eagerness`` (see :class:`~.vad.EnergyVad`).
        """
        semantic = turn.get("type") == "semantic_vad"
        key: tuple[Any, Any, Any, Any] = (
            0.5 if semantic else turn.get("threshold", 0.5),
            300 if semantic else turn.get("prefix_padding_ms", 300),
            500 if semantic else turn.get("silence_duration_ms", 500),
            (turn.get("eagerness") or "auto") if semantic else None,
        )
        if call.vad is None:
            call.vad = EnergyVad(*key)
        elif call.vad_key != key:
            call.vad.retune(*key)
        call.vad_key = key
        return call.vad

    async def _on_commit(self, call: Call, data: dict[str, Any]) -> None:
        if call.buffer_ms < 100:
            raise EventRejected(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {call.buffer_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        await self._commit_user_turn(call, call.speech_item_id or self._new_id("item"), respond=False)

    async def _on_buffer_clear(self, call: Call, data: dict[str, Any]) -> None:
        call.buffer_ms = 0
        await self._send(call, self._event("input_audio_buffer.cleared"))

    async def _on_speech_started(self, call: Call, audio_start_ms: int) -> None:
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

    async def _on_speech_stopped(self, call: Call, audio_end_ms: int, create_response: bool) -> None:
        item_id = call.speech_item_id or self._new_id("item")
        await self._send(
            call, self._event("input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms, item_id=item_id)
        )
        await self._commit_user_turn(call, item_id, respond=create_response)

    async def _commit_user_turn(self, call: Call, item_id: str, *, respond: bool) -> None:
        previous = call.last_item_id
        call.pending_input_ms += call.buffer_ms
        await self._send(
            call, self._event("input_audio_buffer.committed", item_id=item_id, previous_item_id=previous)
        )
        await self._add_item(call, items.user_audio_item(item_id), previous)
        call.buffer_ms = 0
        call.speech_item_id = None
        call.user_turns += 1
        if respond and call.reply is None:
            self._start_reply(call)

    async def _add_item(self, call: Call, item: dict[str, Any], previous: str | None) -> None:
        call.items[item["id"]] = item
        call.last_item_id = item["id"]
        for event_type in ("conversation.item.added", "conversation.item.done"):
            await self._send(call, self._event(event_type, item=item, previous_item_id=previous))

    async def _on_item_create(self, call: Call, data: dict[str, Any]) -> None:
        item = items.create_item(call.items, data, self._new_id("item"))
        call.pending_text_tokens += text_tokens(item_text(item))
        call.pressed = replies.pressed_digit(item) or call.pressed
        await self._add_item(call, item, data.get("previous_item_id") or call.last_item_id)

    async def _on_item_delete(self, call: Call, data: dict[str, Any]) -> None:
        items.delete_item(call.items, data["item_id"])
        await self._send(call, self._event("conversation.item.deleted", item_id=data["item_id"]))

    async def _on_truncate(self, call: Call, data: dict[str, Any]) -> None:
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

    async def _on_output_audio_buffer_clear(self, call: Call, data: dict[str, Any]) -> None:
        raise EventRejected(
            "output_audio_buffer.clear is only supported for WebRTC and SIP connections",
            code="unsupported_event",
        )
