"""MediaStatsObserver driven frame by frame with a fake clock: fast, no pipeline, no real time.

``test_observer.py`` runs real calls; these pin the counting and timing logic of each frame kind so that
mutation testing (``scripts/mutation.py observer``) can run them per mutant.
"""

from __future__ import annotations

from typing import Any

import pytest
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    OutputAudioRawFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import FramePushed
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import TransportParams

from pipecat_twilio_realtime import MediaStatsObserver, TwilioMediaStreamSerializer, TwilioStopFrame, g711
from pipecat_twilio_realtime.observe.observer import CallStats

from .. import _twilio_helpers as tw

DOWN, UP = FrameDirection.DOWNSTREAM, FrameDirection.UPSTREAM
Params = MediaStatsObserver.InputParams


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self, serializer: TwilioMediaStreamSerializer | None = None, **params: Any) -> None:
        self.clock = Clock()
        self.serializer = serializer
        self.observer = MediaStatsObserver(
            serializer=serializer, params=Params(**params), time_source=self.clock
        )
        self.output = BaseOutputTransport(TransportParams())
        self.other = FrameProcessor()
        self.summaries: list[dict[str, Any]] = []
        self.noise: list[Any] = []

        @self.observer.event_handler("on_call_summary")
        async def summary(_o: Any, data: dict[str, Any]) -> None:
            self.summaries.append(data)

        @self.observer.event_handler("on_noise_detected")
        async def noise(_o: Any, finding: Any) -> None:
            self.noise.append(finding)

    async def push(
        self,
        frame: Frame,
        direction: FrameDirection = DOWN,
        *,
        from_output: bool = False,
        first: bool = True,
        at: float | None = None,
    ) -> None:
        if at is not None:
            self.clock.now = at
        source = self.output if from_output else self.other
        await self.observer.on_push_frame(
            FramePushed(
                source=source,
                destination=self.other,
                frame=frame,
                direction=direction,
                timestamp=0,
                first_push=first,
            )
        )

    async def end(self, frame: Frame | None = None) -> None:
        """The call ends: the serializer sees End/Cancel (with one), or the worker cleans up (without)."""
        await self.push(frame or EndFrame(), from_output=True)  # ignored: the end comes from the wire
        if self.serializer is not None:
            await self.serializer.serialize(frame or EndFrame())
        else:
            await self.observer.cleanup()
        import asyncio

        for _ in range(5):  # event handlers run as tasks: let them finish
            await asyncio.sleep(0)


def out_audio(ulaw: bytes) -> OutputAudioRawFrame:
    return OutputAudioRawFrame(audio=g711.decode(ulaw), sample_rate=8000, num_channels=1)


def in_audio(level: int, n: int = 160) -> InputAudioRawFrame:
    pcm = int(level).to_bytes(2, "little", signed=True) * n
    return InputAudioRawFrame(audio=pcm, sample_rate=8000, num_channels=1)


async def test_frames_are_counted_once_and_output_audio_only_from_the_output_transport() -> None:
    h = Harness(noise_alarm=False)
    await h.push(in_audio(100))
    await h.push(in_audio(100), first=False)  # the same frame passed on: not counted again
    await h.push(out_audio(b"\xff" * 160))  # on its way to the transport
    await h.push(out_audio(b"\xff" * 160), from_output=True)
    await h.push(out_audio(b"\xff" * 160), from_output=True)
    stats = h.observer.stats
    assert (stats.rx_frames, stats.tx_frames) == (1, 2)
    assert stats.started_at == 50.0


async def test_bot_turns_and_barge_ins_once_per_turn_with_latency() -> None:
    h = Harness(noise_alarm=False)
    await h.push(BotStartedSpeakingFrame(), at=10.0)
    await h.push(BotStartedSpeakingFrame(), UP)  # the broadcast sibling
    await h.push(UserStartedSpeakingFrame(), at=10.5)
    await h.push(InterruptionFrame(), at=10.75)
    await h.push(InterruptionFrame(), at=10.8)  # same turn: one barge-in
    await h.push(InterruptionFrame(), UP, at=10.9)
    assert h.observer.stats.bot_turns == 1 and h.observer.stats.barge_ins == 1
    assert h.observer.stats.barge_in_latency_ms == [250.0]
    await h.push(BotStoppedSpeakingFrame())
    await h.push(InterruptionFrame(), at=11.0)  # the bot is not speaking: no barge-in
    await h.push(BotStartedSpeakingFrame(), at=20.0)
    await h.push(UserStartedSpeakingFrame(), UP, at=20.0)  # upstream copy: ignored
    await h.push(InterruptionFrame(), at=20.1)
    assert h.observer.stats.bot_turns == 2 and h.observer.stats.barge_ins == 2
    assert h.observer.stats.barge_in_latency_ms == [250.0]  # no speech start seen for this one
    await h.push(BotStoppedSpeakingFrame())
    await h.push(BotStartedSpeakingFrame(), at=30.0)
    await h.push(UserStartedSpeakingFrame(), at=30.0)
    await h.push(InterruptionFrame(), at=32.0)  # 2 s after: too late to be this speech's barge-in
    assert h.observer.stats.barge_in_latency_ms == [250.0]
    await h.push(BotStoppedSpeakingFrame())
    await h.push(BotStartedSpeakingFrame(), at=40.0)
    await h.push(UserStartedSpeakingFrame(), at=40.0)
    await h.push(InterruptionFrame(), at=41.999)
    assert h.observer.stats.barge_in_latency_ms[-1] == pytest.approx(1999.0)


async def test_first_reply_latency_from_speech_stop_to_the_first_written_audio() -> None:
    h = Harness(noise_alarm=False)
    await h.push(UserStoppedSpeakingFrame(), at=5.0)
    await h.push(UserStoppedSpeakingFrame(), UP, at=6.0)  # upstream copy: ignored
    await h.push(out_audio(b"\xff" * 160), at=5.5)  # not written yet
    await h.push(out_audio(b"\xff" * 160), from_output=True, at=5.8)
    await h.push(out_audio(b"\xff" * 160), from_output=True, at=5.9)
    assert h.observer.stats.first_reply_ms == [pytest.approx(800.0)]


async def test_caller_levels_are_percentiles_of_frame_rms() -> None:
    h = Harness(noise_alarm=False)
    for level in range(100, 1100, 100):
        await h.push(in_audio(level))
    await h.push(InputAudioRawFrame(audio=b"", sample_rate=8000, num_channels=1))
    await h.end()
    summary = h.summaries[0]
    assert summary["caller_floor_rms"] == 190.0 and summary["caller_speech_rms"] == 910.0
    assert summary["rx_frames"] == 11


async def test_fewer_than_ten_frames_give_no_levels_and_levels_can_be_off() -> None:
    h = Harness(noise_alarm=False)
    for _ in range(9):
        await h.push(in_audio(500))
    await h.end()
    assert h.summaries[0]["caller_floor_rms"] is None
    off = Harness(noise_alarm=False, caller_levels=False)
    for _ in range(20):
        await off.push(in_audio(500))
    await off.end()
    assert off.summaries[0]["caller_floor_rms"] is None


async def test_a_loud_floor_is_warned(logs: list[str]) -> None:
    h = Harness(noise_alarm=False)
    for _ in range(10):
        await h.push(in_audio(401))
    await h.end()
    assert any("WARNING" in line and "loud caller noise floor" in line for line in logs)
    quiet = Harness(noise_alarm=False)
    logs.clear()
    for _ in range(10):
        await quiet.push(in_audio(400))
    await quiet.end()
    assert not any("loud caller noise floor" in line for line in logs)


async def test_the_summary_comes_once_from_the_output_transport_with_wire_totals(logs: list[str]) -> None:
    serializer = TwilioMediaStreamSerializer()
    await serializer.deserialize(tw.start())
    await serializer.deserialize(tw.media(2, b"\x01" * 160))
    await serializer.deserialize(tw.media(5, b"\x01" * 80))
    await serializer.deserialize("{oops")
    await serializer.serialize(out_audio(b"\x20" * 320))
    await serializer.serialize(InterruptionFrame())
    h = Harness(serializer, noise_alarm=False)
    await h.push(in_audio(100), at=100.0)
    await h.push(EndFrame())  # an EndFrame in the pipeline: the call is not over until the wire says so
    await h.push(EndFrame(), from_output=True)
    assert h.summaries == []
    h.clock.now = 102.5
    await h.end()
    await h.end(CancelFrame())
    await h.observer.cleanup()
    assert len(h.summaries) == 1
    s = h.summaries[0]
    assert (s["rx_bytes"], s["tx_bytes"], s["rx_seconds"], s["tx_seconds"]) == (240, 320, 0.03, 0.04)
    assert (s["clears"], s["malformed"], s["sequence_gaps"], s["stream_sid"]) == (1, 1, 1, tw.STREAM_SID)
    assert s["duration_s"] == 2.5
    lines = [line for line in logs if "WS_STOP" in line]
    assert len(lines) == 1
    assert (
        f"stream={tw.STREAM_SID} rx=240 tx=320 rx_s=0.03 tx_s=0.04 rx_frames=2 tx_frames=1" in lines[0]
    )  # Twilio messages
    assert "marks=0/0/0 clears=1 malformed=1 gaps=1" in lines[0] and "noise=none" in lines[0]
    again = await h.observer.finish()  # still returns the summary, logs nothing more
    assert again["rx_bytes"] == 240 and sum("WS_STOP" in line for line in logs) == 1


async def test_the_summary_includes_the_service_stats() -> None:
    class Service:
        class stats:
            @staticmethod
            def as_dict() -> dict[str, int]:
                return {"barge_ins": 3}

    h = Harness(noise_alarm=False)
    h.observer._service = Service()
    summary = await h.observer.finish()
    assert summary["realtime"] == {"barge_ins": 3}
    plain = Harness(noise_alarm=False)
    plain.observer._service = type("S", (), {"stats": {"x": 1}})()
    assert (await plain.observer.finish())["realtime"] == {"x": 1}
    none = Harness(noise_alarm=False)
    assert "realtime" not in await none.observer.finish()


async def test_noise_on_the_wire_is_an_error_once_per_reason(logs: list[str]) -> None:
    h = Harness()
    await h.push(BotStartedSpeakingFrame())
    buzz = bytes([0x00, 0x80]) * 800
    for _ in range(6):
        await h.push(out_audio(buzz), from_output=True)
    await h.push(InterruptionFrame())  # a barge-in starts the detector afresh: the noise is found again
    for _ in range(6):
        await h.push(out_audio(buzz), from_output=True)
    import asyncio

    for _ in range(5):
        await asyncio.sleep(0)
    stats = h.observer.stats
    assert stats.noise == {"pcm16_as_ulaw": 2}
    errors = [line for line in logs if "ERROR" in line and "NOISE stream=" in line]
    assert len(errors) == len(stats.noise) and len(h.noise) == len(stats.noise)


async def test_speech_on_the_wire_raises_nothing(logs: list[str]) -> None:
    from pipecat_twilio_realtime.testing import load_clip

    h = Harness(log_frames=True)
    clip = load_clip("bot_answer")[:8000]
    for i in range(0, len(clip), 160):
        await h.push(out_audio(clip[i : i + 160]), from_output=True)
    assert h.observer.stats.noise == {}
    tx = [line for line in logs if "TX stream=" in line]
    assert len(tx) == 50 and "bytes=160 head=" in tx[0]


async def test_wrong_rate_or_odd_output_is_counted_but_not_decoded(logs: list[str]) -> None:
    h = Harness(log_frames=True)
    await h.push(
        OutputAudioRawFrame(audio=b"\x00\x00" * 160, sample_rate=16000, num_channels=1), from_output=True
    )
    await h.push(
        OutputAudioRawFrame(audio=b"\x00\x00\x00", sample_rate=8000, num_channels=1), from_output=True
    )
    assert h.observer.stats.tx_frames == 2 and not any("TX stream=" in line for line in logs)


async def test_transcripts_are_logged_per_reply(logs: list[str]) -> None:
    h = Harness(noise_alarm=False)
    await h.push(TTSTextFrame(text="Hello ", aggregated_by="word"))
    await h.push(TTSTextFrame(text="there. ", aggregated_by="word"))
    await h.push(LLMFullResponseEndFrame())
    await h.push(LLMFullResponseEndFrame())  # nothing new: no line
    await h.push(TranscriptionFrame(text="hi", user_id="u", timestamp="t"))
    assert (
        next(line for line in logs if "BOT stream=" in line).rstrip().endswith("BOT stream=- 'Hello there.'")
    )
    assert sum("BOT stream=" in line for line in logs) == 1
    assert any("CALLER stream=- 'hi'" in line for line in logs)
    quiet = Harness(noise_alarm=False, log_transcripts=False)
    logs.clear()
    await quiet.push(TTSTextFrame(text="Hello", aggregated_by="word"))
    await quiet.push(LLMFullResponseEndFrame())
    await quiet.push(TranscriptionFrame(text="hi", user_id="u", timestamp="t"))
    assert not any("BOT stream=" in line or "CALLER stream=" in line for line in logs)


async def test_stats_lines_every_interval(logs: list[str]) -> None:
    h = Harness(noise_alarm=False, stats_interval_s=10)
    await h.push(in_audio(1), at=0.0)
    await h.push(in_audio(1), at=9.9)
    assert not any("STATS" in line for line in logs)
    await h.push(in_audio(1), at=10.0)
    await h.push(in_audio(1), at=15.0)
    assert sum("STATS stream=" in line for line in logs) == 1
    await h.push(in_audio(1), at=20.0)
    assert sum("STATS stream=" in line for line in logs) == 2
    off = Harness(noise_alarm=False, stats_interval_s=0)
    logs.clear()
    for t in range(0, 100, 10):
        await off.push(in_audio(1), at=float(t))
    assert not any("STATS" in line for line in logs)


async def test_twilio_stop_is_noted(logs: list[str]) -> None:
    h = Harness(noise_alarm=False)
    await h.push(TwilioStopFrame(call_sid=tw.CALL_SID, reason="twilio stop"))
    assert any("DEBUG" in line and "Twilio stopped the stream" in line for line in logs)


def test_call_stats_seconds_and_dict() -> None:
    stats = CallStats(rx_bytes=12000, tx_bytes=4001)
    assert (stats.rx_seconds, stats.tx_seconds) == (1.5, 0.500125)
    out = stats.as_dict()
    assert (out["rx_seconds"], out["tx_seconds"]) == (1.5, 0.5)
    assert Params() == Params(
        stats_interval_s=30.0, noise_alarm=True, caller_levels=True, log_frames=False, log_transcripts=True
    )
