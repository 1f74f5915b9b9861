"""The stand-in's replies: create, cancel, stream a clip's audio with its transcript, finish."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Any, Literal

from loguru import logger
from websockets.exceptions import ConnectionClosed

from ..clips import CLIP_TEXTS, load_clip
from . import pacing, replies
from .base import Call, StandInBase
from .replies import CancelReason, Reply
from .session import format_type
from .usage import text_tokens
from .validation import EventRejected

__all__ = ["ReplyPlayer"]


class ReplyPlayer(StandInBase):
    """Responses of the stand-in (see :class:`~.server.RealtimeStandIn`)."""

    async def _on_response_create(self, call: Call, data: dict[str, Any]) -> None:
        if call.reply is not None:
            raise EventRejected(
                f"Conversation already has an active response in progress: {call.reply.response_id}. "
                "Wait until the response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        self._start_reply(call)

    async def _on_response_cancel(self, call: Call, data: dict[str, Any]) -> None:
        wanted = data.get("response_id")
        if call.reply is None or (wanted is not None and wanted != call.reply.response_id):
            raise EventRejected(
                "Cancellation failed: no active response found", code="response_cancel_not_active"
            )
        await self._stop_reply(call, reason="client_cancelled")

    def _start_reply(self, call: Call) -> None:
        reply = Reply(self._new_id("resp"), self._new_id("item"), "")
        pressed, call.pressed = call.pressed, None
        if pressed is not None and pressed in self.digit_calls:
            name, arguments = self.digit_calls[pressed]
            reply.function_call = (name, self._new_id("call"), json.dumps(arguments))
        elif self.function_call is not None and call.user_turns > 0 and not call.function_called:
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
        self._take_input(call, reply)
        call.reply = reply
        reply.task = asyncio.create_task(self._run_reply(call, reply), name=f"{self} {reply.response_id}")

    @staticmethod
    def _take_input(call: Call, reply: Reply) -> None:
        """What this response reads, for its usage: audio and text items since the last one, instructions."""
        instructions = text_tokens(call.session.get("instructions"))
        reply.input_audio_ms, call.pending_input_ms = call.pending_input_ms, 0.0
        reply.input_text_tokens, call.pending_text_tokens = instructions + call.pending_text_tokens, 0
        reply.cached_text_tokens = instructions if call.responses else 0
        call.responses += 1

    async def _stop_reply(self, call: Call, reason: CancelReason | None = None) -> None:
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

    async def _run_reply(self, call: Call, reply: Reply) -> None:
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

    async def _open_reply(self, call: Call, reply: Reply, item: dict[str, Any]) -> None:
        previous = call.last_item_id
        call.items[reply.item_id] = item
        call.last_item_id = reply.item_id
        await self._send_all(call, replies.reply_opening(reply, call.session, item, previous, self._new_id))

    async def _send_reply(self, call: Call, reply: Reply) -> None:
        """Open the reply, stream its audio with the transcript interleaved, then finish it."""
        clip = load_clip(reply.clip)
        words = CLIP_TEXTS[reply.clip].split(" ")
        pcm_out = self.faults.sends_pcm(format_type(call.session, "output"))
        await self._open_reply(call, reply, replies.assistant_item(reply, "in_progress", None))
        plan = pacing.schedule(self.pacing, len(clip), self._pacing_rng)
        self._replies += 1
        number, faults = self._replies, self.faults
        if plan.first_wait_s:
            await asyncio.sleep(plan.first_wait_s)
        if faults.oversize_delta_bytes and number == 1:
            big = base64.b64encode(b"\xff" * faults.oversize_delta_bytes).decode("ascii")
            await self._send(call, replies.audio_delta(reply, big, self._new_id))
        offset, chunks = 0, len(plan.deltas)
        for index, (size, wait_s) in enumerate(plan.deltas):
            ulaw = clip[offset : offset + size]
            if faults.closes_at(index, chunks, number):
                logger.debug(f"{self} closing the socket mid-reply (misbehaviour)")
                await call.ws.close(1011, "stand-in closed mid-reply")
                return
            if faults.stalls_at(index, chunks, number):
                logger.debug(f"{self} stalling {faults.stall_s} s mid-reply (misbehaviour)")
                await asyncio.sleep(faults.stall_s or 0.0)
            noisy = faults.noisy(ulaw, self._rng, offset)
            payload = replies.pcm24k_from_ulaw(ulaw) if pcm_out else noisy
            delta = base64.b64encode(payload).decode("ascii")
            await self._send(call, replies.audio_delta(reply, delta, self._new_id))
            self.reply_audio += payload
            offset += size
            reply.sent_bytes += len(ulaw)
            call.produced_ms[reply.item_id] = reply.sent_bytes // 8
            text = replies.transcript_delta(words, index, chunks, reply, self._new_id)
            if text is not None:
                await self._send(call, text)
            await asyncio.sleep(wait_s)
        await self._finish_reply(call, reply, status="completed")

    async def _send_function_call(self, call: Call, reply: Reply) -> None:
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
        self, call: Call, reply: Reply, *, status: Literal["completed", "cancelled"]
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
