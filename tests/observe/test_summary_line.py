"""The ``WS_STOP`` line's fields and the summary dict: medians (not means), ``-`` for what is unknown, the
service's stats and tokens, the stream SID, the seconds rounding and the observer's push mode.
"""

from __future__ import annotations

import re

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InterruptionFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)

from pipecat_twilio_realtime import MediaStatsObserver, TwilioMediaStreamSerializer
from pipecat_twilio_realtime.observe.observer import CallStats
from pipecat_twilio_realtime.realtime.stats import RealtimeMuLawStats
from pipecat_twilio_realtime.realtime.usage import TokenUsage

from .. import _twilio_helpers as tw
from ._observer_harness import Harness, out_audio


def ws_stop(logs: list[str]) -> str:
    lines = [line for line in logs if "WS_STOP stream=" in line]
    assert len(lines) == 1, lines
    return lines[0]


def field_of(line: str, name: str) -> str:
    found = re.search(rf"\b{name}=(\S+)", line)
    assert found is not None, (name, line)
    return found.group(1)


async def test_barge_in_and_first_reply_times_are_medians_in_whole_ms(logs: list[str]) -> None:
    h = Harness(noise_alarm=False)
    t = 100.0
    for latency, reply in ((0.1, 0.4), (0.2, 0.5), (0.6, 1.5)):  # medians 200 / 500, means 300 / 800
        await h.push(UserStoppedSpeakingFrame(), at=t)
        await h.push(out_audio(b"\x55" * 160), from_output=True, at=t + reply)
        await h.push(BotStartedSpeakingFrame(), at=t + reply)
        await h.push(UserStartedSpeakingFrame(), at=t + 1.0)
        await h.push(InterruptionFrame(), at=t + 1.0 + latency)
        await h.push(BotStoppedSpeakingFrame(), at=t + 1.9)
        t += 10.0
    await h.end()
    line = ws_stop(logs)
    assert field_of(line, "barge_in_ms") == "200" and field_of(line, "first_reply_ms") == "500"
    summary = h.summaries[0]
    assert [round(v) for v in summary["barge_in_latency_ms"]] == [100, 200, 600]
    assert [round(v) for v in summary["first_reply_ms"]] == [400, 500, 1500]
    assert summary["barge_ins"] == 3 and summary["tx_frames"] == 3


async def test_unknown_values_are_a_dash(logs: list[str]) -> None:
    h = Harness(noise_alarm=False)
    await h.end()
    line = ws_stop(logs)
    for name in ("stream", "barge_in_ms", "first_reply_ms", "caller_floor", "caller_speech", "lead_min_ms"):
        assert field_of(line, name) == "-", name
    assert "noise=none" in line and "dry=0/0ms tokens=- cost=-" in line
    assert h.summaries[0]["tokens"] is None and h.summaries[0]["cost_usd"] is None


async def test_a_given_service_puts_its_stats_and_tokens_in_the_summary(logs: list[str]) -> None:
    class Service:
        stats = RealtimeMuLawStats(usage=TokenUsage(input_tokens=1200, output_tokens=345), cost_usd=0.01234)

    observer = MediaStatsObserver(service=Service(), params=MediaStatsObserver.InputParams(noise_alarm=False))
    summary = await observer.finish()
    assert summary["realtime"]["usage"]["input_tokens"] == 1200
    assert summary["tokens"] == {"input": 1200, "output": 345} and summary["cost_usd"] == 0.01234
    assert ws_stop(logs).rstrip().endswith("tokens=1200/345 cost=$0.0123")


async def test_a_service_without_stats_adds_nothing() -> None:
    observer = MediaStatsObserver(service=object(), params=MediaStatsObserver.InputParams(noise_alarm=False))
    summary = await observer.finish()
    assert "realtime" not in summary and summary["tokens"] is None


async def test_seconds_in_the_summary_are_rounded_to_the_millisecond() -> None:
    stats = CallStats(rx_bytes=1, tx_bytes=12_345)  # 0.000125 s and 1.543125 s
    out = stats.as_dict()
    assert out["rx_seconds"] == 0.0 and out["tx_seconds"] == 1.543
    assert CallStats(rx_bytes=8004).as_dict()["rx_seconds"] == 1.0  # 1.0005 s


async def test_idle_clears_come_from_the_wire() -> None:
    serializer = TwilioMediaStreamSerializer()
    await serializer.deserialize(tw.start())
    await serializer.serialize(InterruptionFrame())  # nothing queued at Twilio: an idle clear
    h = Harness(serializer, noise_alarm=False)
    await h.end()
    assert (h.summaries[0]["clears"], h.summaries[0]["idle_clears"]) == (1, 1)
    quiet = TwilioMediaStreamSerializer()
    await quiet.deserialize(tw.start())
    q = Harness(quiet, noise_alarm=False)
    assert q.observer.stats.idle_clears == 0  # an int, not None, before any clear
    assert isinstance(q.observer.stats.idle_clears, int)


async def test_lines_name_the_stream_from_the_serializer_before_any_refresh(logs: list[str]) -> None:
    serializer = TwilioMediaStreamSerializer()
    await serializer.deserialize(tw.start())
    h = Harness(serializer, noise_alarm=False)
    await h.push(TranscriptionFrame(text="hi", user_id="u", timestamp="t"))
    assert any(f"CALLER stream={tw.STREAM_SID} 'hi'" in line for line in logs)


async def test_the_observer_sees_each_frame_at_its_first_push_only() -> None:
    observer = MediaStatsObserver(name="call-7")
    assert observer.observe_every_push is False
    assert observer.name == "call-7"  # other arguments reach Pipecat's BaseObserver
