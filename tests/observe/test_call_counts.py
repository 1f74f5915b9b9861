"""What the observer counts: each frame once, output audio only from the output transport, bot turns and
barge-ins once per turn with their latency, first-reply latency, odd output counted but not decoded.
"""

from __future__ import annotations

import pytest
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)

from pipecat_twilio_realtime import TwilioStopFrame
from pipecat_twilio_realtime.observe.observer import CallStats

from .. import _twilio_helpers as tw
from ._observer_harness import UP, Harness, Params, in_audio, out_audio


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


async def test_wrong_rate_or_odd_output_is_counted_but_not_decoded(logs: list[str]) -> None:
    h = Harness(log_frames=True)
    await h.push(
        OutputAudioRawFrame(audio=b"\x00\x00" * 160, sample_rate=16000, num_channels=1), from_output=True
    )
    await h.push(
        OutputAudioRawFrame(audio=b"\x00\x00\x00", sample_rate=8000, num_channels=1), from_output=True
    )
    assert h.observer.stats.tx_frames == 2 and not any("TX stream=" in line for line in logs)


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
