"""Reply deltas on their way to Twilio: 8 kHz frames with a start mark and progress marks, nothing before the
session is confirmed, items of one response in one turn.
"""

from __future__ import annotations

import pytest
from pipecat.frames.frames import (
    TTSAudioRawFrame,
    TTSStartedFrame,
)

from pipecat_twilio_realtime import (
    OpenAIRealtimeMuLawLLMService,
    TwilioMarkRequestFrame,
    g711,
)
from pipecat_twilio_realtime.realtime.playback import PlaybackTracker

from ._service_harness import SPEECHLESS, Harness, delta


async def test_reply_deltas_become_8k_frames_with_start_and_progress_marks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch, mark_interval_ms=40)  # a mark every 320 bytes
    h.service._format_confirmed = True
    reply = bytes(range(256)) + bytes(range(256))
    for i in range(0, 512, 128):
        await h.service._handle_evt_audio_delta(delta("item_a", reply[i : i + 128]))
    audio = b"".join(f.audio for f in h.pushed(TTSAudioRawFrame))
    assert audio == g711.decode(reply)
    assert {(f.sample_rate, f.num_channels) for f in h.pushed(TTSAudioRawFrame)} == {(8000, 1)}
    assert len(h.pushed(TTSStartedFrame)) == 1
    labels = [f.label for f in h.pushed(TwilioMarkRequestFrame)]
    assert labels == [PlaybackTracker.start_label("item_a"), PlaybackTracker.progress_label("item_a", 384)]
    stats = h.service.stats
    assert (stats.responses, stats.reply_bytes, stats.reply_deltas) == (1, 512, 4)


async def test_reply_audio_before_the_session_is_confirmed_is_dropped(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    h = Harness(monkeypatch)
    await h.service._handle_evt_audio_delta(delta("item", SPEECHLESS))
    await h.service._handle_evt_audio_delta(delta("item", SPEECHLESS))
    assert h.pushed(TTSAudioRawFrame) == [] and h.service.stats.dropped_reply_bytes == 320
    # the first at ERROR, the repeat at DEBUG only
    assert sum("before the server confirmed" in line and "ERROR" in line for line in logs) == 1
    assert sum("before the server confirmed" in line and "DEBUG" in line for line in logs) == 1


async def test_the_next_item_of_a_response_continues_the_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    h.service._format_confirmed = True
    await h.service._handle_evt_audio_delta(delta("item_a", SPEECHLESS))
    await h.service._handle_evt_audio_delta(delta("item_b", SPEECHLESS))
    assert len(h.pushed(TTSStartedFrame)) == 1 and h.service.stats.responses == 2
    current = h.service._current_audio_response
    assert current is not None and current.item_id == "item_b" and current.total_size == 160
    starts = [f.label for f in h.pushed(TwilioMarkRequestFrame) if f.label.endswith("/start")]
    assert starts == [PlaybackTracker.start_label("item_a"), PlaybackTracker.start_label("item_b")]


async def test_duration_is_bytes_over_eight() -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test")
    assert service._calculate_audio_duration_ms(8000) == 1000
    assert service._calculate_audio_duration_ms(4) == 0
    assert service._calculate_audio_duration_ms(800, 8000, 1) == 100


async def test_only_the_last_eight_items_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    h.service._format_confirmed = True
    for n in range(10):
        h.service._current_audio_response = None
        await h.service._handle_evt_audio_delta(delta(f"item_{n}", SPEECHLESS))
    await h.service._handle_bot_stopped_speaking()
    assert list(h.service._produced) == [f"item_{n}" for n in range(2, 10)]
