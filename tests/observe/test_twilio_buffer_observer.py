"""The Twilio buffer estimate in MediaStatsObserver: fed by the serializer's hooks, in the summary,
a DRY warning line per dry period, and counted in /metrics."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pipecat.frames.frames import (
    BotStoppedSpeakingFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
)
from pipecat.observers.base_observer import FramePushed
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from prometheus_client.parser import text_string_to_metric_families

from pipecat_twilio_realtime import MediaStatsObserver, TwilioMediaStreamSerializer, g711
from pipecat_twilio_realtime.observe.metrics import CallMetrics
from pipecat_twilio_realtime.twilio.frames import TwilioMarkRequestFrame

from .._twilio_helpers import STREAM_SID, mark


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def audio(ms: int) -> OutputAudioRawFrame:
    return OutputAudioRawFrame(audio=g711.decode(b"\x10\x90" * (ms * 4)), sample_rate=8000, num_channels=1)


class Call:
    """A serializer and its observer on one fake clock; Twilio's side is played by the test."""

    def __init__(self, **params: Any) -> None:
        self.clock = Clock()
        self.serializer = TwilioMediaStreamSerializer(stream_sid=STREAM_SID)
        self.observer = MediaStatsObserver(
            serializer=self.serializer,
            time_source=self.clock,
            params=MediaStatsObserver.InputParams(noise_alarm=False, **params),
        )
        self.metrics = CallMetrics()
        self.metrics.observe(self.observer)
        self.seq = 10
        self.due: list[tuple[str, float]] = []

    async def send_mark(self, label: str) -> str:
        message = await self.serializer.serialize(TwilioMarkRequestFrame(label=label))
        assert isinstance(message, str)
        return str(json.loads(message)["mark"]["name"])

    async def echo(self, name: str, at: float) -> None:
        self.clock.t = at
        self.seq += 1
        await self.serializer.deserialize(mark(self.seq, name))

    async def reply(self, start: float, chunks: int, *, late_from: float | None = None) -> None:
        """Send ``chunks`` 100 ms messages in real time from ``start`` (no lead), a mark every 500 ms.

        Twilio echoes each mark when the audio before it has played; from ``late_from`` on it plays
        250 ms late (its buffer ran dry: the audio was held on the way). Echoes due arrive in time order.
        """
        self.due.append((await self.send_mark("start"), start))
        for n in range(chunks):
            await self.deliver(until=start + n * 0.1)
            assert await self.serializer.serialize(audio(100)) is not None
            if (n + 1) % 5 == 0:
                played = start + (n + 1) * 0.1
                if late_from is not None and played > late_from:
                    played += 0.25
                self.due.append((await self.send_mark(f"p{n}"), played))

    async def deliver(self, until: float) -> None:
        """Echo every mark due by ``until``, then set the clock there."""
        while self.due and self.due[0][1] <= until:
            name, at = self.due.pop(0)
            await self.echo(name, at)
        self.clock.t = until


def metric(metrics: CallMetrics, name: str) -> float:
    body, _ = metrics.render()
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} not exported")


async def test_a_dry_buffer_is_a_warning_a_summary_field_and_a_metric(logs: list[str]) -> None:
    call = Call()
    await call.reply(100.0, 40, late_from=101.0)
    await call.deliver(until=105.0)
    await call.serializer.serialize(EndFrame())
    await asyncio.sleep(0.01)  # on_call_summary handlers run as tasks
    summary = call.observer.stats.as_dict()
    assert summary["twilio_dry_count"] == 1
    assert abs(summary["twilio_dry_ms"] - 250) <= 1
    assert summary["twilio_lead_min_ms"] == 0
    warnings = [line for line in logs if "DRY stream=" in line]
    assert len(warnings) == 1, warnings
    assert "WARNING" in warnings[0]
    assert "Twilio's buffer ran dry for 250 ms at 1.0 s:" in warnings[0]  # the last echo before it
    assert "the caller heard silence inside bot speech" in warnings[0]
    stop = [line for line in logs if "WS_STOP" in line]
    assert len(stop) == 1 and "lead_min_ms=0 dry=1/250ms" in stop[0], stop
    assert metric(call.metrics, "pipecat_twilio_twilio_buffer_dry_total") == 1
    assert abs(metric(call.metrics, "pipecat_twilio_twilio_buffer_dry_seconds_total") - 0.25) < 0.002


async def test_continuous_play_and_a_barge_in_are_not_dry(logs: list[str]) -> None:
    call = Call()
    await call.reply(100.0, 20)
    await call.deliver(until=101.95)  # the last mark (due at 102.0) is pending when the caller barges in
    assert await call.serializer.serialize(InterruptionFrame()) is not None  # clear
    flushed = call.due.pop()
    await call.echo(flushed[0], 101.96)  # Twilio sends it back at once: it was flushed, not played
    await call.reply(102.2, 10)
    await call.deliver(until=104.0)
    summary = await call.observer.finish()
    await asyncio.sleep(0.01)
    assert summary["twilio_dry_count"] == 0 and summary["twilio_dry_ms"] == 0
    assert not [line for line in logs if "DRY stream=" in line]
    assert "dry=0/0ms" in next(line for line in logs if "WS_STOP" in line)
    assert metric(call.metrics, "pipecat_twilio_twilio_buffer_dry_total") == 0


async def test_the_lead_is_reported_when_audio_is_sent_ahead() -> None:
    call = Call()
    call.clock.t = 100.0
    start = await call.send_mark("start")
    for _ in range(6):  # 600 ms at once, then one every 100 ms: each tops up 500 ms still queued
        await call.serializer.serialize(audio(100))
    await call.echo(start, 100.0)
    for n in range(1, 20):
        call.clock.t = 100.0 + n * 0.1
        await call.serializer.serialize(audio(100))
    summary: dict[str, Any] = await call.observer.finish()
    assert 490 <= summary["twilio_lead_min_ms"] <= 510
    assert 490 <= summary["twilio_lead_median_ms"] <= 510


async def push_at(call: Call, at: float, frame: Frame | None = None) -> None:
    """A frame passes through the pipeline at ``at`` (what drives the observer's STATS lines)."""
    call.clock.t = at
    frame = frame or InputAudioRawFrame(audio=b"\x00\x00" * 160, sample_rate=8000, num_channels=1)
    processor = FrameProcessor()
    await call.observer.on_push_frame(
        FramePushed(processor, processor, frame, FrameDirection.DOWNSTREAM, 0, first_push=True)
    )


async def test_stats_line_has_the_live_lead_and_confirms_a_dry_period_once_the_bot_is_idle(
    logs: list[str],
) -> None:
    call = Call(stats_interval_s=1.0)
    await push_at(call, 100.0)
    await call.reply(100.0, 10, late_from=100.6)  # only the reply's last echo shows the silence
    await call.deliver(until=101.3)
    assert not [line for line in logs if "DRY stream=" in line]  # one echo: not yet sure
    await push_at(call, 101.3)
    await push_at(call, 103.0)  # the bot sent nothing since 101.0: the reply is over
    dry = [line for line in logs if "DRY stream=" in line]
    assert len(dry) == 1 and "ran dry for 250 ms at 0.5 s:" in dry[0], dry
    stats = [line for line in logs if "STATS stream=" in line]
    assert len(stats) == 2
    assert "lead_ms=0 dry=0/0ms" in stats[0]  # at 101.3 s all sent audio had played
    assert stats[1].rstrip().endswith("lead_ms=0 dry=1/250ms"), stats[1]


async def test_bot_stopped_speaking_confirms_what_the_echoes_showed_without_waiting_for_stats(
    logs: list[str],
) -> None:
    call = Call(stats_interval_s=0)
    await push_at(call, 100.0)
    await call.reply(100.0, 10, late_from=100.6)
    await call.deliver(until=101.3)
    await push_at(call, 101.35, BotStoppedSpeakingFrame())
    dry = [line for line in logs if "DRY stream=" in line]
    assert len(dry) == 1 and "ran dry for 250 ms" in dry[0], dry
