"""Noise on the wire is an ERROR once per reason; speech raises nothing."""

from __future__ import annotations

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    InterruptionFrame,
)

from ._observer_harness import Harness, out_audio


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
