"""The noise alarm as a caller sees it: a file header at a chunk's start is an ERROR at once with the
finding handed to ``on_noise_detected``, only at a chunk's start (a reply's first audio, after the bot
stopped, after a barge-in), every reason in ``WS_STOP``, nothing with the alarm off, and the ``TX`` head.
"""

from __future__ import annotations

import base64

from pipecat.frames.frames import BotStartedSpeakingFrame, BotStoppedSpeakingFrame, InterruptionFrame

from pipecat_twilio_realtime.observe.noise import NoiseFinding

from ._observer_harness import Harness, out_audio

RIFF = b"RIFF" + b"\x55" * 156
"""A 20 ms chunk that starts with a WAV header: a file was sent as audio."""
BUZZ = bytes([0x00, 0x80]) * 800
"""PCM16 read as μ-law: full-scale alternation, noise in every window."""


async def test_a_header_in_the_first_chunk_is_an_error_at_once_and_goes_to_the_handler(
    logs: list[str],
) -> None:
    h = Harness()
    await h.push(BotStartedSpeakingFrame())
    await h.push(out_audio(RIFF), from_output=True)
    errors = [line for line in logs if "ERROR" in line and "NOISE stream=- reason=container_header" in line]
    assert len(errors) == 1
    await h.end()
    assert len(h.noise) == 1 and isinstance(h.noise[0], NoiseFinding)
    assert h.noise[0].reason == "container_header" and "RIFF" in h.noise[0].likely_cause


async def test_a_header_counts_only_at_a_chunks_start() -> None:
    h = Harness()
    await h.push(BotStartedSpeakingFrame())
    await h.push(out_audio(RIFF), from_output=True)
    await h.push(out_audio(RIFF), from_output=True)  # mid-reply: bytes that happen to read "RIFF"
    assert h.observer.stats.noise == {"container_header": 1}
    await h.push(BotStoppedSpeakingFrame())
    await h.push(BotStartedSpeakingFrame())
    await h.push(out_audio(RIFF), from_output=True)  # the next reply's first chunk
    assert h.observer.stats.noise == {"container_header": 2}
    await h.push(InterruptionFrame())
    await h.push(out_audio(RIFF), from_output=True)  # the first chunk after a barge-in
    assert h.observer.stats.noise == {"container_header": 3}


async def test_every_reason_is_in_the_summary_line(logs: list[str]) -> None:
    h = Harness()
    await h.push(BotStartedSpeakingFrame())
    await h.push(out_audio(RIFF), from_output=True)
    for _ in range(6):
        await h.push(out_audio(BUZZ), from_output=True)
    await h.end()
    line = next(line for line in logs if "WS_STOP" in line)
    assert " noise=container_header:1,pcm16_as_ulaw:1 " in line
    assert [f.reason for f in h.noise] == ["container_header", "pcm16_as_ulaw"]


async def test_with_the_alarm_off_nothing_is_checked(logs: list[str]) -> None:
    h = Harness(noise_alarm=False)
    await h.push(BotStartedSpeakingFrame())
    await h.push(out_audio(RIFF), from_output=True)
    for _ in range(6):
        await h.push(out_audio(BUZZ), from_output=True)
    await h.end()
    assert h.observer.stats.noise == {} and h.noise == []
    assert not any("NOISE stream=" in line for line in logs)
    assert h.summaries[0]["tx_frames"] == 7


async def test_a_tx_line_shows_the_first_ten_bytes_in_base64(logs: list[str]) -> None:
    h = Harness(noise_alarm=False, log_frames=True)
    chunk = bytes(range(0x10, 0x10 + 160))
    await h.push(out_audio(chunk), from_output=True)
    head = base64.b64encode(chunk[:10]).decode("ascii")
    line = next(line for line in logs if "TX stream=" in line)
    assert line.rstrip().endswith(f"TX stream=- bytes=160 head={head}")
