"""Caller audio on its way to OpenAI: μ-law sample for sample, batched to the append interval, bad frames
dropped and counted, and passed downstream only when something after the service reads it.
"""

from __future__ import annotations

from typing import Any

import pytest
from pipecat.frames.frames import InputAudioRawFrame, StartFrame
from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.openai.realtime import events
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService

from pipecat_twilio_realtime import TwilioMarkEchoFrame, TwilioStopFrame

from ._service_harness import SPEECHLESS, Harness, caller, session_updated


async def test_caller_audio_is_batched_to_the_append_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch, append_interval_ms=60)
    h.service._format_confirmed = True
    for n in range(5):
        await h.service._send_user_audio(caller(bytes([n + 1]) * 160))
    assert len(h.socket.of_type("input_audio_buffer.append")) == 1
    assert h.appended() == b"\x01" * 160 + b"\x02" * 160 + b"\x03" * 160
    await h.service._send_user_audio(caller(b"\x06" * 160))
    assert h.appended()[480:] == b"\x04" * 160 + b"\x05" * 160 + b"\x06" * 160


@pytest.mark.parametrize(("rate", "channels"), [(16000, 1), (8000, 2)])
async def test_wrong_rate_caller_audio_is_dropped_and_counted(
    monkeypatch: pytest.MonkeyPatch, rate: int, channels: int, logs: list[str]
) -> None:
    h = Harness(monkeypatch)
    h.service._format_confirmed = True
    for _ in range(2):
        await h.service._send_user_audio(caller(b"\x01" * 160, rate=rate, channels=channels))
    assert h.service.stats.wrong_rate_frames == 2 and h.appended() == b""
    assert sum("ERROR" in line and f"{rate} Hz x{channels}" in line for line in logs) == 1


async def test_empty_and_odd_caller_audio_send_nothing(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    h = Harness(monkeypatch, append_interval_ms=1)
    h.service._format_confirmed = True
    await h.service._send_user_audio(InputAudioRawFrame(audio=b"", sample_rate=8000, num_channels=1))
    await h.service._send_user_audio(
        InputAudioRawFrame(audio=b"\x00\x00\x01", sample_rate=8000, num_channels=1)
    )
    assert h.socket.sent == [] and h.service.stats.appends == 0
    assert sum("dropped caller audio" in line for line in logs) == 1


@pytest.mark.parametrize("passthrough", [True, False])
async def test_mark_echoes_end_here_and_caller_audio_only_without_passthrough(
    monkeypatch: pytest.MonkeyPatch, passthrough: bool
) -> None:
    h = Harness(monkeypatch, audio_passthrough=passthrough)
    echo = TwilioMarkEchoFrame(mark_name="m", label="m", ulaw_bytes_sent=0, played=True)
    audio = caller(SPEECHLESS)
    await h.service.push_frame(echo)
    await h.service.push_frame(audio)
    await h.service.push_frame(echo, FrameDirection.UPSTREAM)
    await h.service.push_frame(audio, FrameDirection.UPSTREAM)
    assert [(f, d) for f, d in h.frames if f is echo] == [(echo, FrameDirection.UPSTREAM)]
    downstream_audio = [f for f, d in h.frames if f is audio and d is FrameDirection.DOWNSTREAM]
    assert len(downstream_audio) == (1 if passthrough else 0)
    assert [d for f, d in h.frames if f is audio and d is FrameDirection.UPSTREAM] == [
        FrameDirection.UPSTREAM
    ]


@pytest.mark.parametrize(
    ("setting", "after", "expected"),
    [
        (None, None, False),
        (None, "recorder", True),
        (True, None, True),
        (False, "recorder", False),
    ],
)
def test_passthrough_is_decided_from_what_follows_unless_forced(
    monkeypatch: pytest.MonkeyPatch, setting: bool | None, after: str | None, expected: bool, logs: list[str]
) -> None:
    h = Harness(monkeypatch, audio_passthrough=setting)
    assert h.service.audio_passthrough is (setting is not False)  # before start: as stock, unless told
    if after == "recorder":
        h.service.link(AudioBufferProcessor())
    h.service._decide_passthrough()
    assert h.service.audio_passthrough is expected
    if setting is None:
        assert any(("wanted by AudioBufferProcessor" if expected else "stops here") in line for line in logs)


async def test_appended_and_dropped_bytes_add_up(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch, max_pending_input_ms=20)
    await h.service._send_user_audio(caller(b"\x01" * 160))  # exactly the cap: nothing dropped
    assert h.service.stats.dropped_input_bytes == 0
    for _ in range(2):
        await h.service._send_user_audio(caller(b"\x02" * 160))
    assert h.service.stats.dropped_input_bytes == 320
    await h.service._handle_evt_session_updated(session_updated())
    await h.service._send_user_audio(caller(b"\x03" * 160))
    assert h.service.stats.appended_bytes == 320 and h.service.stats.appends == 2


async def test_without_turn_detection_the_preroll_keeps_the_latest_mulaw(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manual = events.SessionProperties(
        audio=events.AudioConfiguration(input=events.AudioInput(turn_detection=False))
    )
    h = Harness(
        monkeypatch,
        settings=OpenAIRealtimeLLMService.Settings(session_properties=manual),
        user_audio_preroll_secs=0.05,  # 400 μ-law bytes
    )
    h.service._format_confirmed = True
    for byte in (1, 2, 3):
        await h.service._send_user_audio(caller(bytes([byte]) * 160))
    assert bytes(h.service._user_audio_preroll_buffer) == b"\x01" * 80 + b"\x02" * 160 + b"\x03" * 160


async def test_with_turn_detection_no_preroll_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    h.service._format_confirmed = True
    await h.service._send_user_audio(caller(b"\x01" * 160))
    assert h.service._user_audio_preroll_buffer == bytearray()


async def test_held_audio_one_byte_over_the_cap_drops_that_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch, max_pending_input_ms=20)  # 160 B
    await h.service._send_user_audio(caller(b"\x01" + b"\x02" * 160))
    assert h.service.stats.dropped_input_bytes == 1 and bytes(h.service._pending_input) == b"\x02" * 160


@pytest.mark.parametrize("failed", ["format", "session"])
async def test_after_a_failure_caller_audio_is_not_held(monkeypatch: pytest.MonkeyPatch, failed: str) -> None:
    h = Harness(monkeypatch)
    setattr(h.service, "_format_failed" if failed == "format" else "_failed", True)
    await h.service._send_user_audio(caller(b"\x01" * 160))
    assert h.service.stats.held_before_session_bytes == 0 and h.service._pending_input == bytearray()


async def test_each_kind_of_bad_caller_audio_is_one_error_line_naming_the_service(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    h = Harness(monkeypatch)
    h.service._format_confirmed = True
    odd = InputAudioRawFrame(audio=b"\x00\x00\x01", sample_rate=8000, num_channels=1)
    for _ in range(2):
        await h.service._send_user_audio(caller(b"\x01" * 160, rate=16000))
        await h.service._send_user_audio(odd)
        await h.service.process_frame(TwilioStopFrame(tail_audio=b"\x00\x00\x01"), FrameDirection.DOWNSTREAM)
    errors = [line for line in logs if "ERROR" in line]
    assert sum(f"{h.service} dropped caller audio for OpenAI: " in line for line in errors) == 1
    assert sum(f"{h.service} dropped caller audio: " in line for line in errors) == 1  # odd frame or odd tail


async def test_the_stock_start_gets_the_start_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    async def stock(_service: Any, frame: Any) -> None:
        seen.append(frame)

    monkeypatch.setattr(OpenAIRealtimeLLMService, "start", stock)
    h = Harness(monkeypatch, audio_passthrough=True)
    start = StartFrame()
    await h.service.start(start)
    assert seen == [start]
