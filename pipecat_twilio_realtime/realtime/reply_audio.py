"""Reply audio and barge-in for :class:`~.service.OpenAIRealtimeMuLawLLMService` (not used alone).

Reply deltas (μ-law) become PCM16 8000 Hz frames sample by sample, pass the noise guard, and are followed by
Twilio mark requests; a barge-in truncates the reply at what Twilio's mark echoes say the caller heard.

A barge-in asks for one more mark just before the ``clear`` (:meth:`.PlaybackTracker.clear_label`) and sends
the truncate when it echoes: Twilio echoes it as it empties its buffer, and the echo carries Twilio's own
stream clock, so the truncate is exact to a 20 ms frame whatever the network between bot and Twilio does.
If no echo comes within ``CLEAR_ECHO_TIMEOUT_S`` (a peer that is not Twilio), the estimate made at the
barge-in is sent instead.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    EndWorkerFrame,
    OutputTransportMessageUrgentFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.openai.realtime import events
from pipecat.services.openai.realtime.llm import CurrentAudioResponse

from .. import g711
from .._logsafe import WarnOnce
from ..observe.noise import NoiseFinding
from ..twilio.frames import TwilioMarkEchoFrame, TwilioMarkRequestFrame
from .lifecycle import SessionLifecycle
from .playback import PlaybackTracker
from .reply_guard import ReplyGuard

__all__ = ["ReplyAudio"]

_BLOCKED_REPLIES_BEFORE_HANG_UP = 3

CLEAR_ECHO_TIMEOUT_S = 1.0
"""How long a barge-in's truncate waits for the echo of the mark sent before the ``clear``."""


class ReplyAudio(SessionLifecycle):
    """What the caller hears of each reply, and where a barge-in cuts it."""

    _format_confirmed: bool
    _warn_once: WarnOnce
    _blocked_items: set[str]
    _cut_items: set[str]  # truncated: deltas still on their way are not played past the cut
    _guard: ReplyGuard | None
    _produced: dict[str, int]
    _next_mark_at: int
    _mark_interval_bytes: int
    _speech_stopped_at: float | None
    _playback: PlaybackTracker
    _clearing: bool  # a clear is about to go to Twilio: time the truncate by its mark's echo
    _truncations_due: dict[str, tuple[int, int, int]]  # item -> (content_index, produced, estimate)

    def _calculate_audio_duration_ms(
        self, total_bytes: int, sample_rate: int = 8000, bytes_per_sample: int = 1
    ) -> int:
        """μ-law duration: one byte per sample at 8000 Hz, i.e. ``bytes / 8`` ms."""
        return int(total_bytes / bytes_per_sample / sample_rate * 1000)

    async def _handle_evt_audio_delta(self, evt: Any) -> None:
        # Replaces the stock hook (same item tracking): it pushes the delta itself, labelled 24 kHz PCM.
        ulaw = base64.b64decode(evt.delta)
        if not self._format_confirmed:
            self._stats.dropped_reply_bytes += len(ulaw)
            self._warn_once(
                "unconfirmed", "dropped reply audio that arrived before the server confirmed audio/pcmu"
            )
            return
        if evt.item_id in self._blocked_items:
            self._stats.guard_dropped_bytes += len(ulaw)
            return
        if evt.item_id in self._cut_items:  # sent before the server heard of the barge-in
            self._stats.cut_reply_bytes += len(ulaw)
            return
        await self.stop_ttfb_metrics()
        self._watch.reply_started()
        current = self._current_audio_response
        if current is None or current.item_id != evt.item_id:
            if current is None:
                current = CurrentAudioResponse(
                    item_id=evt.item_id,
                    content_index=evt.content_index,
                    start_time_ms=int(time.time() * 1000),
                    response_id=evt.response_id,
                )
                self._current_audio_response = current  # type: ignore[assignment]
                await self.push_frame(TTSStartedFrame())
            else:  # the next output item of the same response: one continuous TTS turn
                await self._release_held_reply(current.item_id)
                current.item_id, current.content_index = evt.item_id, evt.content_index
                current.response_id, current.total_size = evt.response_id, 0
                current.start_time_ms = int(time.time() * 1000)
            self._stats.responses += 1
            if self._speech_stopped_at is not None:
                self._stats.first_reply_latency_ms.append((time.monotonic() - self._speech_stopped_at) * 1000)
                self._speech_stopped_at = None
            self._produced[evt.item_id] = 0
            self._next_mark_at = self._mark_interval_bytes
            if self._guard is not None:
                self._guard.start()
            await self.push_frame(TwilioMarkRequestFrame(label=PlaybackTracker.start_label(evt.item_id)))
        current.total_size += len(ulaw)
        produced = self._produced[evt.item_id] = self._produced.get(evt.item_id, 0) + len(ulaw)
        self._stats.reply_bytes += len(ulaw)
        self._stats.reply_deltas += 1
        if self._guard is not None:
            verdict = self._guard.feed(ulaw)
            if verdict.finding is not None:
                self._stats.guard_dropped_bytes += verdict.dropped
                await self._block_reply(evt.item_id, verdict.finding)
                return
            ulaw = verdict.play
        await self._push_reply_audio(ulaw)
        if produced >= self._next_mark_at:
            self._next_mark_at = produced + self._mark_interval_bytes
            self._playback.requested(evt.item_id, produced)
            await self.push_frame(
                TwilioMarkRequestFrame(label=PlaybackTracker.progress_label(evt.item_id, produced))
            )

    async def _push_reply_audio(self, ulaw: bytes) -> None:
        if ulaw:
            await self.push_frame(
                TTSAudioRawFrame(audio=g711.decode(ulaw), sample_rate=g711.SAMPLE_RATE, num_channels=1)
            )

    async def _release_held_reply(self, item_id: str) -> None:
        """The item's audio ended: decide on what the guard still holds (a reply shorter than the hold)."""
        if self._guard is None:
            return
        verdict = self._guard.flush()
        if verdict.finding is not None:
            self._stats.guard_dropped_bytes += verdict.dropped
            await self._block_reply(item_id, verdict.finding)
        await self._push_reply_audio(verdict.play)

    async def _block_reply(self, item_id: str, finding: NoiseFinding) -> None:
        """Noise instead of speech: play none of it, cancel the reply, and go on (or end a hopeless call)."""
        self._blocked_items.add(item_id)
        self._stats.blocked_replies += 1
        logger.error(
            f"{self} NOISE GUARD blocked reply {item_id!r} before the caller heard it: {finding.reason} "
            f"(rms {finding.rms:.0f}). Likely cause: {finding.likely_cause}. The reply is cancelled."
        )
        await self.send_client_event(events.ResponseCancelEvent())
        await self._truncate_current_audio_response()
        await self.push_frame(TTSStoppedFrame())
        if self._stats.blocked_replies >= _BLOCKED_REPLIES_BEFORE_HANG_UP:
            logger.error(f"{self} {self._stats.blocked_replies} replies were noise: ending the call")
            await self.push_frame(
                EndWorkerFrame(reason="realtime replies are noise"), FrameDirection.UPSTREAM
            )

    async def _handle_evt_response_created(self, evt: Any) -> None:
        self._watch.reply_started()  # the caller's turn is being answered (maybe by a function call)
        await super()._handle_evt_response_created(evt)

    async def _handle_evt_response_done(self, evt: Any) -> None:
        if evt.response.status == "completed":  # a session that answers is healthy again
            self._reconnects_in_a_row = 0
        current = self._current_audio_response
        if current is not None:
            await self._release_held_reply(current.item_id)
        await super()._handle_evt_response_done(evt)

    async def _handle_bot_stopped_speaking(self) -> None:
        await super()._handle_bot_stopped_speaking()
        if len(self._produced) > PlaybackTracker.KEEP_ITEMS:
            for item_id in list(self._produced)[: -PlaybackTracker.KEEP_ITEMS]:
                del self._produced[item_id]
            self._cut_items.intersection_update(self._produced)

    # ------------------------------------------------------------------ barge-in

    async def _handle_evt_speech_started(self, evt: Any) -> None:
        replying = self._current_audio_response is not None
        self._clearing = replying
        try:
            await super()._handle_evt_speech_started(evt)  # truncates at what was heard (below)
        finally:
            self._clearing = False
        if replying:
            self._stats.barge_ins += 1
            logger.debug(f"{self} caller talked over the reply: clearing Twilio")
            await self.broadcast_interruption()  # → InterruptionFrame → the serializer sends ``clear``

    async def _handle_interruption(self) -> None:
        # An InterruptionFrame from upstream (local turn detection): the transport sends Twilio ``clear``.
        self._clearing = True
        try:
            await super()._handle_interruption()
        finally:
            self._clearing = False

    async def _handle_evt_speech_stopped(self, evt: Any) -> None:
        self._speech_stopped_at = time.monotonic()
        self._watch.caller_turn_ended(self._speech_stopped_at)
        await super()._handle_evt_speech_stopped(evt)

    async def _truncate_current_audio_response(self) -> None:
        """Truncate the reply at what the caller heard, at most what was produced.

        On a barge-in whose echoes carry Twilio's clock: once the mark sent before the ``clear`` echoes.
        Otherwise now, at the latest echo plus the time since.
        """
        # Replaces the stock hook: it estimates playback from wall-clock time and PCM16 24 kHz sizes.
        current = self._current_audio_response
        if current is None:
            return
        self._current_audio_response = None
        item_id = current.item_id
        self._cut_items.add(item_id)
        produced = self._produced.get(item_id, current.total_size)
        estimate = min(self._playback.heard_bytes(item_id), produced)
        if self._clearing and self._playback.times_on_stream(item_id):
            self._truncations_due[item_id] = (current.content_index, produced, estimate)
            label = PlaybackTracker.clear_label(item_id)
            # Urgent: it reaches Twilio ahead of the InterruptionFrame's clear, whatever audio is queued.
            mark = {"event": "mark", "mark": {"name": label}}
            await self.push_frame(OutputTransportMessageUrgentFrame(message=mark))
            self._spawn(self._truncate_if_unanswered(item_id))
            return
        await self._send_truncate(item_id, current.content_index, estimate, produced)

    async def _on_mark_echo(self, echo: TwilioMarkEchoFrame) -> None:
        """Feed the tracker; a barge-in's clear mark echoing settles its truncate."""
        self._playback.on_echo(echo)
        for item_id in list(self._truncations_due):
            heard = self._playback.heard_at_clear(item_id)
            if heard is not None:
                content_index, produced, _ = self._truncations_due.pop(item_id)
                await self._send_truncate(item_id, content_index, min(heard, produced), produced)

    async def _truncate_if_unanswered(self, item_id: str) -> None:
        await asyncio.sleep(CLEAR_ECHO_TIMEOUT_S)
        due = self._truncations_due.pop(item_id, None)
        if due is not None:
            logger.debug(f"{self} no echo of the clear's mark for {item_id}: truncating at the estimate")
            await self._send_truncate(item_id, due[0], due[2], due[1])

    async def _send_truncate(self, item_id: str, content_index: int, heard: int, produced: int) -> None:
        audio_end_ms = self._calculate_audio_duration_ms(heard)
        produced_ms = self._calculate_audio_duration_ms(produced)
        self._stats.truncations.append((item_id, audio_end_ms, produced_ms))
        logger.debug(f"{self} truncating {item_id} at {audio_end_ms} ms heard of {produced_ms} ms produced")
        await self.send_client_event(
            events.ConversationItemTruncateEvent(
                item_id=item_id, content_index=content_index, audio_end_ms=audio_end_ms
            )
        )
