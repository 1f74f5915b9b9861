"""MediaStatsObserver in real pipelines: counts match the Twilio side, WS_STOP, the noise alarm."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, WebSocket
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    TTSAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipecat_twilio_realtime import MediaStatsObserver, TwilioMediaStreamSerializer, g711
from pipecat_twilio_realtime.testing import (
    RealtimeStandIn,
    Silence,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    load_clip,
)

from .._bot_helpers import BotCall, bot_app
from .._twilio_helpers import run_call_pipeline, serve, wait_for_every_echo


class SpeakOnFirstAudio(FrameProcessor):
    """Answers the caller's first audio frame with a fixed list of PCM16 8 kHz chunks."""

    def __init__(self, pcm: bytes) -> None:
        super().__init__()
        self._pcm: bytes | None = pcm

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame) and self._pcm is not None:
            pcm, self._pcm = self._pcm, None
            for i in range(0, len(pcm), 3200):  # 200 ms frames, like a TTS
                await self.push_frame(
                    TTSAudioRawFrame(audio=pcm[i : i + 3200], sample_rate=8000, num_channels=1)
                )


def speaking_app(pcm: bytes, observers: list[MediaStatsObserver], summaries: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        serializer = TwilioMediaStreamSerializer()
        observer = MediaStatsObserver(
            serializer=serializer,
            params=MediaStatsObserver.InputParams(log_frames=True, stats_interval_s=0.5),
        )
        observers.append(observer)

        @observer.event_handler("on_call_summary")
        async def summary(_observer: Any, data: dict[str, Any]) -> None:
            summaries.append(data)

        await run_call_pipeline(websocket, serializer, [SpeakOnFirstAudio(pcm)], observers=[observer])

    return app


async def run_call(pcm: bytes, seconds: float) -> tuple[Any, MediaStatsObserver, list[dict[str, Any]]]:
    observers: list[MediaStatsObserver] = []
    summaries: list[dict[str, Any]] = []
    async with serve(speaking_app(pcm, observers, summaries)) as port:
        caller = SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", [Silence(seconds)])
        report = await asyncio.wait_for(caller.run(), 30)
        async with asyncio.timeout(10):
            while not summaries:
                await asyncio.sleep(0.05)
    return report, observers[0], summaries


async def test_healthy_call_counts_match_the_twilio_side_and_stay_quiet(logs: list[str]) -> None:
    speech = load_clip("bot_answer")
    report, observer, summaries = await run_call(g711.decode(speech), seconds=5.0)
    stats = observer.stats
    assert observer.observe_every_push is False  # each frame once; the wire totals come from the serializer
    assert stats.tx_bytes == len(report.received_audio) > 0  # tx = bytes Twilio actually got
    assert stats.rx_bytes == report.ulaw_bytes_sent
    assert stats.rx_frames == report.media_sent
    assert stats.tx_frames == report.media_received  # one 20 ms chunk per Twilio media message
    assert stats.noise == {}
    assert stats.bot_turns == 1
    stop_lines = [line for line in logs if "WS_STOP" in line]
    assert len(stop_lines) == 1
    assert (
        f"stream={report.stream_sid}" in stop_lines[0] and f"tx={len(report.received_audio)}" in stop_lines[0]
    )
    assert f"rx={report.ulaw_bytes_sent}" in stop_lines[0] and "noise=none" in stop_lines[0]
    assert any(line.count("TX stream=") and "head=" in line for line in logs)
    assert any("STATS stream=" in line for line in logs)
    assert summaries[0]["tx_bytes"] == stats.tx_bytes and summaries[0]["stream_sid"] == report.stream_sid
    # the caller sent digital silence: its floor is 0 and its speech level 0
    assert summaries[0]["caller_floor_rms"] == 0


async def test_pcm16_sent_as_mulaw_raises_the_alarm(logs: list[str]) -> None:
    pcm16_of_speech = g711.decode(load_clip("bot_answer"))
    # a processor that hands the serializer audio whose μ-law encoding is the PCM16 bytes themselves
    on_the_wire_as_pcm = g711.decode(pcm16_of_speech[: len(pcm16_of_speech) // 2])
    _report, observer, summaries = await run_call(on_the_wire_as_pcm, seconds=3.0)
    assert "pcm16_as_ulaw" in observer.stats.noise
    errors = [line for line in logs if "NOISE stream=" in line and "ERROR" in line]
    assert len(errors) >= 1 and "PCM16 bytes are being sent where Twilio expects μ-law" in errors[0]
    assert "noise=pcm16_as_ulaw" in next(line for line in logs if "WS_STOP" in line)
    assert summaries[0]["noise"]["pcm16_as_ulaw"] >= 1


async def test_realtime_call_summary_has_service_stats_and_barge_in(logs: list[str]) -> None:
    def observers(serializer: TwilioMediaStreamSerializer, service: Any) -> list[Any]:
        return [MediaStatsObserver(serializer=serializer, service=service)]

    calls: list[BotCall] = []
    async with (
        RealtimeStandIn(speed=8.0) as standin,
        serve(bot_app(standin.url, calls, observers=observers)) as port,
    ):
        script = [WaitForBotAudio(after_s=1.0), Speech(load_clip("caller_interrupt")), Silence(1.0)]
        report = await asyncio.wait_for(SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script).run(), 30)
        observer = calls[0].observers[0]
        assert isinstance(observer, MediaStatsObserver)
        echoes = await wait_for_every_echo(observer, report, timeout_s=5)
    stats = observer.stats
    assert stats.tx_bytes == len(report.received_audio) and stats.rx_bytes == report.ulaw_bytes_sent
    assert stats.barge_ins == 1 and len(stats.barge_in_latency_ms) == 1
    assert stats.marks_played + stats.marks_flushed == echoes and 0 < stats.marks_played
    assert len(report.marks_played) - 2 <= stats.marks_played <= len(report.marks_played)  # crossed the clear
    assert stats.noise == {}
    assert stats.caller_speech_rms is not None and stats.caller_speech_rms > 500
    assert any("BOT stream=" in line and "Hello" in line for line in logs)
    summary = await observer.finish()
    assert summary["realtime"]["barge_ins"] == 1
