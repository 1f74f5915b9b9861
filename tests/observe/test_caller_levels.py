"""The caller's noise floor and speech level: percentiles of frame RMS, none from fewer than ten frames, a
loud floor warned.
"""

from __future__ import annotations

from pipecat.frames.frames import (
    InputAudioRawFrame,
)

from ._observer_harness import Harness, in_audio


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
