"""``SessionLifecycle``: opening, watching, losing and reopening the Realtime session, and failing cleanly.

A base class of :class:`~.service.OpenAIRealtimeMuLawLLMService` holding only methods of ours (no stock hook
is overridden here: those stay in ``service.py``, where the canaries look for them). Its state is set up in
the service's ``__init__``; ``stock_seams()`` reads this class's source too, so every stock attribute used
here is checked by the canaries like the service's own.

What the caller gets from it: a session that does not start (refused, HTTP 401, a handshake or a
``session.updated`` that never comes within ``session_ready_timeout_s``) or is lost for good ends in one
ERROR line naming the cause, ``on_session_failed(service, reason)``, the fallback audio and a hang-up (or
a transfer). A session lost mid-call (a drop, a stall, the 60-minute limit) is reopened with the
conversation so far, ``reconnect_attempts`` times in a row at most.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from loguru import logger
from pipecat.frames.frames import LLMFullResponseEndFrame, TTSStoppedFrame
from pipecat.services.openai.realtime import events
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService

from ..twilio.rest import TwilioCallUpdate
from .connection import connect_failure, open_realtime
from .fallback import play_and_end
from .stats import RealtimeMuLawStats
from .watch import SessionWatch

__all__ = ["SessionLifecycle"]

_WATCH_TICK_S = 0.2
_RETRY_PAUSE_S = 0.25
_STABLE_SESSION_S = 30.0  # a session confirmed this long ago resets the count of reconnects in a row


class SessionLifecycle(OpenAIRealtimeLLMService):
    """The session's life and death, for :class:`~.service.OpenAIRealtimeMuLawLLMService` (not used alone)."""

    _stats: RealtimeMuLawStats
    _watch: SessionWatch
    _max_message_bytes: int
    _reconnect_attempts: int
    _reconnects_in_a_row: int
    _confirmed_at: float
    _fallback_audio: bytes
    _transfer_to: str | None
    _end_call_on_failure: bool
    _failed: bool
    _closing: bool
    _reconnecting: bool
    _lost: bool
    _expired: bool
    _format_confirmed: bool
    _attempt_lost: str | None
    _restore_on_confirm: bool
    _respond_after_restore: bool
    _session_confirmed: asyncio.Event
    _stream_live: asyncio.Event
    _fallback_played: asyncio.Event
    _side_tasks: set[asyncio.Task[None]]
    _watching: bool

    def _spawn(self, coroutine: Any) -> None:
        task = self.create_task(coroutine)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _open_session(self) -> str | None:
        """Open the websocket, start the receive loop; on failure name it (and fail, unless reconnecting)."""
        timeout = self._watch.ready_timeout_s
        try:
            websocket = await open_realtime(
                self.base_url,
                await self._auth_headers(),
                open_timeout=timeout,
                max_size=self._max_message_bytes,
            )
        except Exception as e:
            reason = connect_failure(e, self.base_url, timeout)
            if not self._reconnecting:
                await self._fail(f"could not start the OpenAI Realtime session: {reason}")
            return reason
        if self._closing or self._failed:
            await websocket.close()
            return "the call is ending"
        self._websocket = websocket  # type: ignore[assignment]
        self._receive_task = self.create_task(self._receive_task_handler())  # type: ignore[assignment]
        return None

    async def _watch_session(self) -> None:
        """Tick while the call lasts: a session not confirmed in time fails; a quiet one is reconnected."""
        if self._watching:
            return  # one watch per call, however often the stock code reconnects (reset_conversation)
        self._watching = True
        while not (self._failed or self._closing):
            await asyncio.sleep(_WATCH_TICK_S)
            websocket = self._websocket
            if self._reconnecting or self._lost or websocket is None:
                continue  # a handshake in progress is bounded by its own open_timeout (the same bound)
            last = getattr(websocket, "last_message_at", 0.0)
            # from response.create (or .created) to response.done: the server owes events all along
            overdue = self._watch.overdue(time.monotonic(), last, replying=self._response_active)
            if overdue is None:
                continue
            kind, reason = overdue
            if kind == "ready":
                await self._fail(f"could not start the OpenAI Realtime session: {reason}")
                return
            self._stats.stalls += 1
            logger.warning(f"{self} the OpenAI Realtime session looks stalled: {reason}")
            await self._on_realtime_lost(f"stalled: {reason}")

    async def _on_realtime_lost(self, reason: str, *, recoverable: bool = True) -> None:
        if self._reconnecting:
            self._attempt_lost = reason
            self._session_confirmed.set()  # wake the reconnect, which sees the attempt failed
            return
        if self._lost or self._failed or self._closing:
            return
        self._lost = True
        if time.monotonic() - self._confirmed_at > _STABLE_SESSION_S:
            self._reconnects_in_a_row = 0
        if recoverable and self._reconnects_in_a_row < self._reconnect_attempts:
            self._reconnecting = True
            self._spawn(self._reconnect(reason))
            return
        self._stats.realtime_lost = 1
        await self._fail(f"lost the OpenAI Realtime session ({reason})")

    async def _reconnect(self, reason: str) -> None:
        """Open a new session carrying the conversation so far; after ``reconnect_attempts``, the fallback."""
        lost_at = time.monotonic()
        logger.warning(
            f"{self} lost the OpenAI Realtime session ({reason}); reconnecting with the conversation"
        )
        respond = (
            self._current_audio_response is not None
            or self._response_active
            or self._watch.awaiting_since is not None
        )
        if self._current_audio_response is not None:  # the rest of this reply will never come
            self._current_audio_response = None
            await self.push_frame(TTSStoppedFrame())
            await self.push_frame(LLMFullResponseEndFrame())
        restore = not self._llm_needs_conversation_setup  # else the first response sets it up, as usual
        failure: str | None = reason
        retrying = False
        while self._reconnects_in_a_row < self._reconnect_attempts and not self._closing:
            if retrying:  # the first attempt goes at once (a drop is usually one-off); a retry waits a little
                await asyncio.sleep(_RETRY_PAUSE_S)
            retrying = True
            self._reconnects_in_a_row += 1
            self._stats.reconnects += 1
            await self._disconnect()
            self._format_confirmed = False
            self._lost, self._expired, self._attempt_lost = False, False, None
            self._session_confirmed.clear()
            self._restore_on_confirm, self._respond_after_restore = restore, respond
            if restore:
                self._llm_needs_conversation_setup = True
                await self._process_completed_function_calls(send_new_results=False)
            self._watch.opening(time.monotonic())
            failure = await self._open_session() or await self._confirmation()
            if failure is None:
                elapsed_ms = (time.monotonic() - lost_at) * 1000
                self._stats.reconnect_ms.append(elapsed_ms)
                self._reconnecting = False
                logger.info(f"{self} reconnected in {elapsed_ms:.0f} ms; the conversation goes on")
                await self._call_event_handler("on_session_reconnected", reason)
                return
            logger.warning(f"{self} reconnect {self._reconnects_in_a_row} failed: {failure}")
        self._reconnecting = False
        self._stats.realtime_lost = 1
        await self._fail(f"lost the OpenAI Realtime session ({reason}) and could not reconnect ({failure})")

    async def _confirmation(self) -> str | None:
        """Wait for the new session's confirmation; return why it did not come, or ``None``."""
        try:
            await asyncio.wait_for(self._session_confirmed.wait(), self._watch.ready_timeout_s)
        except TimeoutError:
            return f"no session.updated within {self._watch.ready_timeout_s:g} s"
        return self._attempt_lost

    async def _restore_conversation(self) -> None:
        """Re-create the conversation so far in a new session from the LLM context, as stock setup does."""
        if self._context is not None:
            params = await self.get_llm_adapter().get_llm_invocation_params(self._context)
            for item in params["messages"]:
                event = events.ConversationItemCreateEvent(item=item)
                self._messages_added_manually[event.item.id] = True
                await self.send_client_event(event)
            logger.debug(f"{self} restored {len(params['messages'])} conversation item(s) in the new session")
        self._llm_needs_conversation_setup = False

    async def end_with_fallback(self, reason: str) -> None:
        """End the call on purpose (e.g. the server is shutting down) the way a failure ends it, politely.

        A reply in progress is interrupted (Twilio's buffer cleared); the caller hears the fallback audio (the
        apology), then the call is transferred (``transfer_to``) or hung up. Returns at once; the ending runs
        in the background.

        Args:
            reason: Why, for the log line.
        """
        if self._failed or self._closing:
            return
        self._failed = True
        how = f"transferred to {self._transfer_to}" if self._transfer_to else "hung up"
        logger.warning(f"{self} ending the call ({reason}): the fallback audio, then {how}")
        if self._current_audio_response is not None:
            await self.broadcast_interruption()  # the apology now, not after the rest of the reply
        self._play_fallback_and_end(reason)

    def _play_fallback_and_end(self, why: str) -> None:
        """In the background: the fallback audio, then a transfer (``transfer_to``) or a hang-up (``why``)."""
        reason: object = TwilioCallUpdate.transfer(self._transfer_to) if self._transfer_to else why
        self._spawn(
            play_and_end(
                self.push_frame,
                audio=self._fallback_audio,
                end_reason=reason,
                live=self._stream_live,
                played=self._fallback_played,
            )
        )

    async def _fail(self, what: str) -> None:
        """The session cannot go on: one ERROR line naming why, the event, the fallback (unless opted out)."""
        if self._failed or self._closing:
            return
        self._failed = True
        self._stats.session_failure = what
        if not self._end_call_on_failure:
            ending = "on_session_failed decides what the caller hears (end_call_on_failure=False)"
        else:
            heard = "an apology" if self._fallback_audio else "nothing more"
            how = f"transferred to {self._transfer_to}" if self._transfer_to else "hung up"
            ending = f"the caller hears {heard}, then the call is {how}, rather than silence"
        logger.error(f"{self} {what}: {ending}")
        await self._call_event_handler("on_session_failed", what)
        if self._end_call_on_failure:
            self._play_fallback_and_end("openai realtime failed")
