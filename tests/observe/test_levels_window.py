"""The caller's levels: percentiles over the last 15000 frames (5 minutes of 20 ms), rounded to 0.1."""

from __future__ import annotations

from ._observer_harness import Harness, in_audio


async def test_levels_cover_the_last_15000_frames_only() -> None:
    h = Harness(noise_alarm=False)
    await h.push(in_audio(100))  # the oldest frame: out of the window once 15000 more came
    for i in range(15_000):
        await h.push(in_audio(1100 if i % 10 == 0 else 100))  # 1500 loud, 13500 quiet
    await h.end()
    # 15000 frames: the 90th percentile falls a tenth of the way from the last quiet to the first loud one;
    # with the oldest frame still in (15001) it would be exactly 100.0.
    assert h.summaries[0]["caller_speech_rms"] == 200.0
    assert h.summaries[0]["caller_floor_rms"] == 100.0


async def test_levels_are_rounded_to_a_tenth() -> None:
    h = Harness(noise_alarm=False)
    for level in (95, 100, 105, 200, 200, 200, 200, 200, 200, 300, 305, 310):
        await h.push(in_audio(level))
    await h.end()
    summary = h.summaries[0]
    assert summary["caller_floor_rms"] == 100.5 and summary["caller_speech_rms"] == 304.5
    assert isinstance(summary["caller_floor_rms"], float) and isinstance(summary["caller_speech_rms"], float)
