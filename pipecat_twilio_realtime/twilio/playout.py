"""Send-ahead playout: reply audio reaches Twilio a bounded lead before it plays (``docs/playout.md``).

Pipecat's websocket output transport paces audio at real time, so each ``media`` message leaves about when
it should start playing and every network delay becomes a gap the caller hears. Twilio buffers the media it
is sent, plays it in order, echoes a ``mark`` once the audio before it has played and empties the buffer on
``clear``. :class:`SendAheadWebsocketTransport` therefore keeps its send clock ``send_ahead_ms`` ahead of the
play clock, while Pipecat's bot-speaking events still follow what the caller hears: started when the first
chunk goes out (Twilio plays it at once: its buffer was empty), stopped once the last chunk has played,
not ``send_ahead_ms`` early. A barge-in still sends ``clear`` at once and the service still truncates at
what mark echoes say was played, so the lead costs no precision.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from fastapi import WebSocket
from pipecat.frames.frames import Frame, InterruptionFrame, OutputAudioRawFrame, StartFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketClient,
    FastAPIWebsocketOutputTransport,
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)

__all__ = ["DEFAULT_SEND_AHEAD_MS", "SendAheadOutputTransport", "SendAheadWebsocketTransport"]

DEFAULT_SEND_AHEAD_MS = 500
"""Default lead: a 250 ms stall on top of 100 ms of jitter still finds audio in Twilio's buffer
(``docs/playout.md``). Barge-in is ``clear`` + truncation at played audio, so the lead costs no precision."""


class SendAheadOutputTransport(FastAPIWebsocketOutputTransport):
    """``FastAPIWebsocketOutputTransport`` whose send clock runs a bounded lead ahead of the play clock.

    The play clock is when Twilio will have played everything sent so far, assuming it plays on arrival
    whenever its buffer is empty: ``played_at = max(played_at, now) + duration`` per ``media`` message.
    Each write then waits until ``played_at - lead``, so the next chunk leaves ``lead`` before it plays.
    An ``InterruptionFrame`` (Pipecat sends Twilio ``clear``) resets the play clock: Twilio flushed it.
    """

    def __init__(
        self,
        transport: BaseTransport,
        client: FastAPIWebsocketClient,
        params: FastAPIWebsocketParams,
        *,
        send_ahead_ms: float = DEFAULT_SEND_AHEAD_MS,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        """Initialize the output transport.

        Args:
            transport: The parent transport.
            client: The websocket client wrapper.
            params: Transport parameters (as for ``FastAPIWebsocketOutputTransport``).
            send_ahead_ms: The lead, in ms of audio: how long before its play time audio is sent.
            clock: Monotonic seconds (inject one in tests).
            **kwargs: Passed to ``FastAPIWebsocketOutputTransport``.

        Raises:
            ValueError: ``send_ahead_ms`` is negative.
        """
        if send_ahead_ms < 0:
            raise ValueError(f"send_ahead_ms must be >= 0 (ms of audio sent ahead), got {send_ahead_ms!r}")
        super().__init__(transport, client, params, **kwargs)
        self._lead = send_ahead_ms / 1000
        self._clock = clock
        self._played_at = 0.0
        self._frame_seconds = 0.0
        self._flushed = asyncio.Event()  # set by an interruption: a waiting bot-stopped-speaking goes now

    @property
    def send_ahead_ms(self) -> float:
        """The lead, in ms of audio."""
        return self._lead * 1000

    def unplayed_seconds(self) -> float:
        """Seconds of sent audio Twilio has not played yet by the play clock (0 when it has none)."""
        return max(0.0, self._played_at - self._clock())

    async def set_transport_ready(self, frame: StartFrame) -> None:
        """Start the media senders, then make their bot-stopped-speaking wait for the play clock."""
        await super().set_transport_ready(frame)
        for sender in self._media_senders.values():
            # MediaSender is built by name inside set_transport_ready; only this one method differs.
            sender.__class__ = _PlayTimeMediaSender

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Reset the play clock on an interruption: the ``clear`` it sends empties Twilio's buffer."""
        if isinstance(frame, InterruptionFrame):
            self._played_at = 0.0
            self._flushed.set()
        await super().process_frame(frame, direction)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        """Write one chunk, then wait until the next one is due ``send_ahead_ms`` before it plays."""
        channels = max(1, frame.num_channels)
        self._frame_seconds = (
            len(frame.audio) / (2 * channels * self.sample_rate) if self.sample_rate else 0.0
        )
        return await super().write_audio_frame(frame)

    async def _write_audio_sleep(self) -> None:
        now = self._clock()
        starts_at = max(self._played_at, now)
        self._played_at = starts_at + self._frame_seconds
        # A frame longer than a chunk (Pipecat's end-of-call silence) is paced like one chunk: it only
        # follows the words, so waiting for all of it would delay the hang-up for nothing.
        due = min(self._played_at - self._lead, starts_at + self._send_interval)
        if due > now:
            await asyncio.sleep(due - now)

    async def wait_until_played(self) -> None:
        """Return once the play clock says Twilio has played everything sent (at once after a ``clear``)."""
        left = self.unplayed_seconds()
        if left <= 0:
            return
        self._flushed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flushed.wait(), timeout=left)


class _PlayTimeMediaSender(BaseOutputTransport.MediaSender):
    """Pipecat's media sender, with bot-stopped-speaking held until the caller has heard the last chunk."""

    async def _bot_stopped_speaking(self) -> None:
        transport = self._transport
        if not self._bot_speaking or not isinstance(transport, SendAheadOutputTransport):
            await super()._bot_stopped_speaking()
            return
        await transport.wait_until_played()
        if not self._bot_speaking:  # an interruption stopped it meanwhile
            return
        # Audio buffered while we waited belongs to the next reply: keep it (Pipecat drops leftovers).
        kept = list(self._audio_runs)
        await super()._bot_stopped_speaking()
        self._audio_runs.extend(kept)


class SendAheadWebsocketTransport(FastAPIWebsocketTransport):
    """``FastAPIWebsocketTransport`` whose output sends reply audio ``send_ahead_ms`` ahead of play time.

    A drop-in replacement::

        transport = SendAheadWebsocketTransport(websocket, FastAPIWebsocketParams(serializer=serializer, ...))
    """

    def __init__(
        self,
        websocket: WebSocket,
        params: FastAPIWebsocketParams,
        input_name: str | None = None,
        output_name: str | None = None,
        *,
        send_ahead_ms: float = DEFAULT_SEND_AHEAD_MS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Initialize the transport.

        Args:
            websocket: The FastAPI websocket of the Twilio media stream.
            params: Transport parameters.
            input_name: Optional name of the input processor.
            output_name: Optional name of the output processor.
            send_ahead_ms: The lead, in ms of audio (:data:`DEFAULT_SEND_AHEAD_MS`).
            clock: Monotonic seconds for the play clock (inject one in tests).
        """
        super().__init__(websocket, params, input_name=input_name, output_name=output_name)
        self._output = SendAheadOutputTransport(
            self, self._client, self._params, send_ahead_ms=send_ahead_ms, clock=clock, name=self._output_name
        )

    def output(self) -> SendAheadOutputTransport:
        """The send-ahead output transport."""
        assert isinstance(self._output, SendAheadOutputTransport)
        return self._output
