"""Reply audio and barge-in for :class:`~.service.OpenAIRealtimeMuLawLLMService` (not used alone).

Reply deltas (μ-law) become PCM16 8000 Hz frames sample by sample, pass the noise guard, and are followed by
Twilio mark requests; a barge-in truncates the reply at what Twilio's mark echoes say the caller heard.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from loguru import logger
from pipecat.frames.frames import EndWorkerFrame, TTSAudioRawFrame, TTSStartedFrame, TTSStoppedFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.openai.realtime import events
from pipecat.services.openai.realtime.llm import CurrentAudioResponse

from .. import g711
from .._logsafe import WarnOnce
from ..observe.noise import NoiseFinding
from ..twilio.frames import TwilioMarkRequestFrame
from .lifecycle import SessionLifecycle
from .playback import PlaybackTracker
from .reply_guard import ReplyGuard

__all__ = ["ReplyAudio"]

_BLOCKED_REPLIES_BEFORE_HANG_UP = 3


class ReplyAudio(SessionLifecycle):
    """What the caller hears of each reply, and where a barge-in cuts it."""

    _format_confirmed: bool
    _warn_once: WarnOnce
    _blocked_items: set[str]
    _guard: ReplyGuard | None
    _produced: dict[str, int]
    _next_mark_at: int
    _mark_interval_bytes: int
    _speech_stopped_at: float | None
    _playback: PlaybackTracker

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

    # ------------------------------------------------------------------ barge-in

    async def _handle_evt_speech_started(self, evt: Any) -> None:
        replying = self._current_audio_response is not None
        await super()._handle_evt_speech_started(evt)  # truncates at what was heard (below)
        if replying:
            self._stats.barge_ins += 1
            logger.debug(f"{self} caller talked over the reply: clearing Twilio")
            await self.broadcast_interruption()  # → InterruptionFrame → the serializer sends ``clear``

    async def _handle_evt_speech_stopped(self, evt: Any) -> None:
        self._speech_stopped_at = time.monotonic()
        self._watch.caller_turn_ended(self._speech_stopped_at)
        await super()._handle_evt_speech_stopped(evt)

    async def _truncate_current_audio_response(self) -> None:
        """Truncate the reply at what the caller heard (echoes + time since), at most what was produced."""
        # Replaces the stock hook: it estimates playback from wall-clock time and PCM16 24 kHz sizes.
        current = self._current_audio_response
        if current is None:
            return
        self._current_audio_response = None
        produced = self._produced.get(current.item_id, current.total_size)
        heard = min(self._playback.heard_bytes(current.item_id), produced)
        audio_end_ms = self._calculate_audio_duration_ms(heard)
        produced_ms = self._calculate_audio_duration_ms(produced)
        self._stats.truncations.append((current.item_id, audio_end_ms, produced_ms))
        logger.debug(
            f"{self} truncating {current.item_id} at {audio_end_ms} ms heard of {produced_ms} ms produced"
        )
        await self.send_client_event(
            events.ConversationItemTruncateEvent(
                item_id=current.item_id, content_index=current.content_index, audio_end_ms=audio_end_ms
            )
        )
