"""Barge-in truncation at what Twilio played (mark echoes plus line-rate time since the latest), never beyond
what was produced; the playback tracker's edges.
"""

from __future__ import annotations

import pytest
from pipecat.processors.frame_processor import FrameDirection

from pipecat_twilio_realtime import (
    TwilioMarkEchoFrame,
    TwilioMarkRequestFrame,
)
from pipecat_twilio_realtime.realtime.fallback import FALLBACK_MARK
from pipecat_twilio_realtime.realtime.playback import PlaybackTracker

from ._service_harness import SPEECHLESS, Harness, delta


async def test_truncation_is_at_what_twilio_played_never_beyond_what_was_produced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch)
    h.service._format_confirmed = True
    await h.service._handle_evt_audio_delta(delta("item_a", SPEECHLESS * 10))  # 1600 bytes, 200 ms

    def echo(label: str, sent: int) -> TwilioMarkEchoFrame:
        return TwilioMarkEchoFrame(mark_name=label, label=label, ulaw_bytes_sent=sent, played=True)

    h.service.playback.on_echo(echo(PlaybackTracker.start_label("item_a"), 1000))
    h.service.playback.on_echo(echo(PlaybackTracker.progress_label("item_a", 800), 1800))
    await h.service._truncate_current_audio_response()
    sent = h.socket.of_type("conversation.item.truncate")
    assert sent == [
        {"type": "conversation.item.truncate", "item_id": "item_a", "content_index": 0, "audio_end_ms": 100}
    ]
    assert h.service.stats.truncations == [("item_a", 100, 200)]
    assert h.service._current_audio_response is None
    await h.service._truncate_current_audio_response()  # nothing current: nothing sent
    assert len(h.socket.of_type("conversation.item.truncate")) == 1
    await h.service._handle_evt_audio_delta(delta("item_b", SPEECHLESS))
    h.service.playback.on_echo(echo(PlaybackTracker.start_label("item_b"), 0))
    h.service.playback.on_echo(echo(PlaybackTracker.progress_label("item_b", 9999), 9999))
    await h.service._truncate_current_audio_response()
    assert h.socket.of_type("conversation.item.truncate")[-1]["audio_end_ms"] == 20  # produced, not 9999


async def test_truncation_adds_the_time_since_the_latest_echo_capped_at_the_next_pending_mark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch, mark_interval_ms=500)
    h.service._format_confirmed = True
    for _ in range(30):  # 30 deltas of 20 ms: 600 ms produced, a progress mark asked for at 500 ms
        await h.service._handle_evt_audio_delta(delta("item_a", SPEECHLESS))
    labels = [f.label for f in h.pushed(TwilioMarkRequestFrame)]
    assert labels == [PlaybackTracker.start_label("item_a"), PlaybackTracker.progress_label("item_a", 4000)]

    def echo(label: str, sent: int) -> TwilioMarkEchoFrame:
        return TwilioMarkEchoFrame(mark_name=label, label=label, ulaw_bytes_sent=sent, played=True)

    h.now = 10.0
    h.service.playback.on_echo(echo(labels[0], 7000))  # playback of the reply began at 10.0 s
    h.now = 10.237
    assert h.service.playback.heard_bytes("item_a") == 1896  # 237 ms at 8 bytes per ms
    assert h.service.playback.acknowledged_bytes("item_a") == 0
    h.now = 10.9  # past the pending mark at 500 ms: the caller cannot be beyond it before it echoes
    assert h.service.playback.heard_bytes("item_a") == 4000
    await h.service._truncate_current_audio_response()
    assert h.socket.of_type("conversation.item.truncate")[-1]["audio_end_ms"] == 500


def test_playback_tracker_interpolation_edges() -> None:
    now = [0.0]
    tracker = PlaybackTracker(clock=lambda: now[0])

    def echo(label: str, sent: int, played: bool = True) -> TwilioMarkEchoFrame:
        return TwilioMarkEchoFrame(mark_name=label, label=label, ulaw_bytes_sent=sent, played=played)

    tracker.requested("a", 800)
    now[0] = 5.0
    assert tracker.heard_bytes("a") == 0  # the start mark has not echoed: nothing is known to play
    tracker.on_echo(echo(PlaybackTracker.start_label("a"), 100))
    now[0] = 5.05
    assert tracker.heard_bytes("a") == 400
    tracker.requested("a", 1600)
    tracker.on_echo(echo(PlaybackTracker.progress_label("a", 800), 880))  # 780 bytes of "a" sent before it
    assert tracker.acknowledged_bytes("a") == 780
    now[0] = 5.1
    assert tracker.heard_bytes("a") == 780 + 400  # from the new echo, not the start: 50 ms since it
    now[0] = 6.0
    assert tracker.heard_bytes("a") == 1600  # capped at the mark asked for at 1600 (still pending)
    tracker.on_echo(echo(PlaybackTracker.progress_label("a", 1600), 1700, played=False))  # a clear flushed it
    now[0] = 9.0
    assert tracker.heard_bytes("a") == 780  # playback stopped at the clear: no more time is added
    tracker.on_echo(echo(PlaybackTracker.progress_label("a", 800), 600))  # a late, smaller echo
    assert tracker.acknowledged_bytes("a") == 780
    assert tracker.acknowledged_bytes("never-seen") == 0 and tracker.heard_bytes("never-seen") == 0


def test_an_echo_at_the_same_position_restarts_the_clock() -> None:
    # Two marks with no audio between them (the reply stalled): the later echo says playback was still
    # there later, so the estimate runs from it, not from the first.
    now = [0.0]
    tracker = PlaybackTracker(clock=lambda: now[0])

    def echo(label: str, sent: int, played: bool = True) -> TwilioMarkEchoFrame:
        return TwilioMarkEchoFrame(mark_name=label, label=label, ulaw_bytes_sent=sent, played=played)

    tracker.on_echo(echo(PlaybackTracker.start_label("a"), 100))
    now[0] = 1.0
    tracker.on_echo(echo(PlaybackTracker.progress_label("a", 0), 100))
    now[0] = 1.05
    assert tracker.heard_bytes("a") == 400
    assert tracker.on_echo(echo("ptr:a/not-a-count", 900)) is True  # a label of ours that names no count
    assert tracker.acknowledged_bytes("a") == 800


def test_flushed_echoes_are_ours_and_leave_nothing_pending() -> None:
    tracker = PlaybackTracker(clock=lambda: 0.0)
    for n in range(100):  # replies interrupted before their start mark played
        tracker.requested(f"item_{n}", 4000)
        flushed = PlaybackTracker.start_label(f"item_{n}")
        assert tracker.on_echo(
            TwilioMarkEchoFrame(mark_name=flushed, label=flushed, ulaw_bytes_sent=0, played=False)
        )
    assert tracker._pending == {}  # nothing kept per interrupted reply


async def test_mark_echoes_feed_the_tracker_and_only_a_played_fallback_mark_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch)
    start = PlaybackTracker.start_label("item_a")
    await h.service.process_frame(
        TwilioMarkEchoFrame(mark_name=start, label=start, ulaw_bytes_sent=10, played=True),
        FrameDirection.DOWNSTREAM,
    )
    h.now = 0.1
    assert h.service.playback.heard_bytes("item_a") == 800  # the echo reached the tracker
    for label, played in ((FALLBACK_MARK, False), ("other", True)):
        await h.service.process_frame(
            TwilioMarkEchoFrame(mark_name=label, label=label, ulaw_bytes_sent=0, played=played),
            FrameDirection.DOWNSTREAM,
        )
        assert not h.service._fallback_played.is_set()
    await h.service.process_frame(
        TwilioMarkEchoFrame(mark_name=FALLBACK_MARK, label=FALLBACK_MARK, ulaw_bytes_sent=0, played=True),
        FrameDirection.DOWNSTREAM,
    )
    assert h.service._fallback_played.is_set()


def test_playback_tracker_edges() -> None:
    tracker = PlaybackTracker(keep_items=2, clock=lambda: 0.0)

    def echo(label: str, sent: int | None, played: bool = True) -> TwilioMarkEchoFrame:
        return TwilioMarkEchoFrame(mark_name=label, label=label, ulaw_bytes_sent=sent, played=played)

    assert PlaybackTracker.start_label("a/b") == "ptr:a/b/start"
    assert PlaybackTracker.progress_label("a", 10) == "ptr:a/10"
    assert tracker.on_echo(echo(PlaybackTracker.start_label("a/b"), 100))
    assert tracker.on_echo(echo(PlaybackTracker.progress_label("a/b", 50), 150))
    assert tracker.heard_bytes("a/b") == 50  # the item id may itself hold a slash
    tracker.on_echo(echo(PlaybackTracker.progress_label("a/b", 20), 120))  # a late, smaller one
    assert tracker.heard_bytes("a/b") == 50
    assert tracker.on_echo(echo(PlaybackTracker.progress_label("x", 1), None))  # ours, unknown count
    tracker.on_echo(echo(PlaybackTracker.progress_label("never-started", 10), 10))
    assert tracker.heard_bytes("never-started") == 0
    tracker.on_echo(echo(PlaybackTracker.start_label("c"), 0))
    assert tracker.heard_bytes("c") == 0 and tracker.heard_bytes("a/b") == 50
    tracker.on_echo(echo(PlaybackTracker.start_label("d"), 0))  # a third item: the oldest is forgotten
    assert tracker.heard_bytes("a/b") == 0
    tracker.on_echo(echo(PlaybackTracker.progress_label("a/b", 5), 500))
    assert tracker.heard_bytes("a/b") == 0
    tracker.on_echo(echo(PlaybackTracker.progress_label("c", 5), 30, played=False))
    assert tracker.heard_bytes("c") == 0
    tracker.on_echo(echo(PlaybackTracker.progress_label("c", 5), 30))
    assert tracker.heard_bytes("c") == 30
