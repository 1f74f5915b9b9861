"""Send-ahead playout over real websockets: audio leads its play time, bot speaking follows play time."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest
import websockets
from fastapi import FastAPI, WebSocket
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams
from pipecat.workers.runner import WorkerRunner

from pipecat_twilio_realtime import (
    DEFAULT_SEND_AHEAD_MS,
    SendAheadWebsocketTransport,
    TwilioMediaStreamSerializer,
)

from .._twilio_helpers import STREAM_SID, serve

CHUNK_S = 0.1  # audio_out_10ms_chunks=10, as recommended


class _SpeakingLog(FrameProcessor):
    """After the output transport: when Pipecat said the bot started and stopped speaking."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, float]] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, BotStartedSpeakingFrame):
            self.events.append(("started", time.monotonic()))
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self.events.append(("stopped", time.monotonic()))
        await self.push_frame(frame, direction)


def _reply(seconds: float) -> list[Frame]:
    """A TTS reply of ``seconds`` of a non-silent tone, in 40 ms frames as fast as the pipeline takes them."""
    pcm = (b"\x00\x10\x00\xf0" * 160)[:640]  # 40 ms at 8 kHz PCM16
    frames: list[Frame] = [TTSStartedFrame()]
    frames += [
        TTSAudioRawFrame(audio=pcm, sample_rate=8000, num_channels=1) for _ in range(round(seconds / 0.04))
    ]
    return [*frames, TTSStoppedFrame()]


def _app(send_ahead_ms: float, replies: list[float], log: _SpeakingLog) -> FastAPI:
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        serializer = TwilioMediaStreamSerializer(stream_sid=STREAM_SID)
        transport = SendAheadWebsocketTransport(
            websocket,
            FastAPIWebsocketParams(
                audio_in_enabled=True, audio_out_enabled=True, audio_out_10ms_chunks=10, serializer=serializer
            ),
            send_ahead_ms=send_ahead_ms,
        )
        worker = PipelineWorker(
            Pipeline([transport.input(), transport.output(), log]),
            params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
        )

        @transport.event_handler("on_client_connected")
        async def connected(*_: Any) -> None:
            await worker.queue_frames([frame for seconds in replies for frame in _reply(seconds)])

        @transport.event_handler("on_client_disconnected")
        async def gone(*_: Any) -> None:
            await worker.cancel()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()

    return app


async def _receive(port: int, seconds_of_audio: float) -> list[tuple[float, int]]:
    """Be Twilio's edge: (arrival time, μ-law bytes) of each ``media`` until the audio and its tail came."""
    arrivals: list[tuple[float, int]] = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
        deadline = time.monotonic() + seconds_of_audio + 5
        while sum(size for _, size in arrivals) < seconds_of_audio * 8000 and time.monotonic() < deadline:
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
            except TimeoutError:
                break
            if message["event"] == "media":
                arrivals.append((time.monotonic(), len(base64.b64decode(message["media"]["payload"]))))
        await asyncio.sleep(1.0)  # let the last bot-stopped-speaking come before hanging up
    return arrivals


def _play(arrivals: list[tuple[float, int]]) -> tuple[list[float], list[float]]:
    """Twilio's playout: each message plays after the previous one, or at once if the buffer ran dry.

    Returns:
        For each message, the audio still buffered ahead of it when it arrived (s), and when it ends playing.
    """
    ahead: list[float] = []
    ends: list[float] = []
    played_at = 0.0
    for arrived, size in arrivals:
        ahead.append(max(0.0, played_at - arrived))
        played_at = max(played_at, arrived) + size / 8000
        ends.append(played_at)
    return ahead, ends


@pytest.mark.parametrize("send_ahead_ms", [0, 400])
async def test_audio_reaches_twilio_the_lead_ahead_of_its_play_time(send_ahead_ms: int) -> None:
    log = _SpeakingLog()
    async with serve(_app(send_ahead_ms, [2.0], log)) as port:
        arrivals = await _receive(port, 2.0)
    ahead, ends = _play(arrivals)
    assert sum(size for _, size in arrivals) == 16000
    lead = send_ahead_ms / 1000
    # the buffer holds the lead (plus up to one chunk in flight), never much more: the lead is bounded
    assert lead - 0.05 <= max(ahead) <= lead + CHUNK_S + 0.05, (send_ahead_ms, ahead)
    # with the buffer full, it never ran dry before the reply was all sent
    if send_ahead_ms:
        assert min(ahead[6:]) >= lead - CHUNK_S - 0.05, ahead
    assert [kind for kind, _ in log.events] == ["started", "stopped"]
    (_, started), (_, stopped) = log.events
    assert abs(started - arrivals[0][0]) < 0.1  # the first chunk plays at once: the caller hears it now
    # stopped once the last chunk has played, not `lead` early (Pipecat's timing without a lead: ~0.1 s)
    assert ends[-1] - 0.05 <= stopped <= ends[-1] + 0.2, (stopped - ends[-1], send_ahead_ms)


async def test_back_to_back_replies_keep_every_byte_and_speaking_follows_each() -> None:
    log = _SpeakingLog()
    async with serve(_app(300, [1.04, 0.52], log)) as port:
        arrivals = await _receive(port, 1.7)
    _, ends = _play(arrivals)
    # both replies whole: each last partial chunk padded to 100 ms, nothing of the second one dropped
    assert sum(size for _, size in arrivals) == 800 * (11 + 6)
    assert [kind for kind, _ in log.events] == ["started", "stopped", "started", "stopped"]
    first_stop, second_stop = log.events[1][1], log.events[3][1]
    first_end = ends[10]  # 11 chunks in the first reply
    assert first_end - 0.05 <= first_stop <= first_end + 0.2, first_stop - first_end
    assert ends[-1] - 0.05 <= second_stop <= ends[-1] + 0.2, second_stop - ends[-1]


def test_the_default_lead_covers_a_stall_on_top_of_jitter() -> None:
    assert DEFAULT_SEND_AHEAD_MS >= 250 + 100  # docs/playout.md


def test_a_negative_lead_is_refused_with_the_unit_named() -> None:
    from pipecat_twilio_realtime import SendAheadOutputTransport

    with pytest.raises(ValueError, match="send_ahead_ms must be >= 0"):
        SendAheadOutputTransport(None, None, FastAPIWebsocketParams(), send_ahead_ms=-1)  # type: ignore[arg-type]
