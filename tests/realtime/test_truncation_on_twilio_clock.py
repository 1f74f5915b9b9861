"""A barge-in's truncate timed on Twilio's stream clock: the mark sent before the ``clear`` and its echo.

Literal echoes, as the serializer builds them (``stream_ms``: the latest caller media's timestamp), into the
tracker and the service; no network and no clock of the bot's own.
"""

from __future__ import annotations

from typing import Any

import pytest
from pipecat.frames.frames import (
    InterruptionFrame,
    OutputTransportMessageUrgentFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
)
from pipecat.processors.frame_processor import FrameDirection

from pipecat_twilio_realtime import TwilioMarkEchoFrame
from pipecat_twilio_realtime.realtime import reply_audio
from pipecat_twilio_realtime.realtime.playback import PlaybackTracker

from ._service_harness import SPEECHLESS, Harness, delta

START, CLEAR = PlaybackTracker.start_label("a"), PlaybackTracker.clear_label("a")


def echo(label: str, sent: int, stream_ms: int | None, played: bool = True) -> TwilioMarkEchoFrame:
    return TwilioMarkEchoFrame(
        mark_name=label, label=label, ulaw_bytes_sent=sent, played=played, stream_ms=stream_ms
    )


def progress(produced: int) -> str:
    return PlaybackTracker.progress_label("a", produced)


def test_heard_is_the_latest_played_echo_plus_twilios_time_to_the_clear() -> None:
    tracker = PlaybackTracker(clock=lambda: 0.0)  # the bot's clock never moves: only Twilio's counts
    tracker.on_echo(echo(START, 1000, 5000))  # the reply began playing at stream time 5.000 s
    assert tracker.times_on_stream("a") and tracker.heard_at_clear("a") is None
    tracker.on_echo(echo(progress(4000), 5000, 5500))  # 4000 bytes in, 500 ms later
    tracker.on_echo(echo(progress(9000), 10000, 6020, played=False))  # flushed at the clear
    tracker.on_echo(echo(CLEAR, 14000, 6020, played=False))
    assert tracker.heard_at_clear("a") == 4000 + 520 * 8  # 520 ms of Twilio's clock past the echo


def test_an_echo_the_serializer_called_flushed_but_from_before_the_clear_was_played_then() -> None:
    # It was on its way back while the clear went out: the serializer had moved it to flushed, but its
    # stream time is before the clear's, so it is the latest point known played.
    tracker = PlaybackTracker(clock=lambda: 0.0)
    tracker.on_echo(echo(START, 0, 1000))
    tracker.on_echo(echo(progress(4000), 4000, 1700, played=False))  # Twilio had stalled 200 ms before it
    assert tracker.on_echo(echo(CLEAR, 9000, 1800, played=False)) is True  # ours
    heard = tracker.heard_at_clear("a")
    assert heard == 4000 + 100 * 8 and isinstance(heard, int)  # from it, not from the start (6400)
    assert tracker.heard_bytes("a") == heard  # the bot-clock view agrees once the clear has settled


def test_the_latest_played_echo_is_the_anchor_whatever_order_they_came_in() -> None:
    tracker = PlaybackTracker(clock=lambda: 0.0)
    tracker.on_echo(echo(START, 0, 1000))
    tracker.on_echo(echo(progress(4000), 4000, 1700))  # after a 200 ms stall: time alone says 5600
    tracker.on_echo(echo(progress(2000), 2000, 1400))  # an older one, late
    tracker.on_echo(echo(CLEAR, 9000, 1800))
    assert tracker.heard_at_clear("a") == 4000 + 100 * 8
    # only the start played: heard counts from the start itself (position 0)
    fresh = PlaybackTracker(clock=lambda: 0.0)
    fresh.on_echo(echo(START, 0, 1000))
    fresh.on_echo(echo(CLEAR, 9000, 1100))
    assert fresh.heard_at_clear("a") == 800
    # a start the serializer called flushed, stamped before the clear: it played then
    late = PlaybackTracker(clock=lambda: 0.0)
    late.on_echo(echo(START, 0, 1000, played=False))
    late.on_echo(echo(CLEAR, 9000, 1100, played=False))
    assert late.heard_at_clear("a") == 800


def test_heard_stops_at_a_mark_the_clear_flushed_and_at_what_was_sent() -> None:
    # Twilio ran dry before the clear (a stall): time alone would say more than it had.
    dry = PlaybackTracker(clock=lambda: 0.0)
    dry.on_echo(echo(START, 0, 1000))
    dry.on_echo(echo(progress(4000), 4000, 3000, played=False))  # flushed in the clear's own frame
    dry.on_echo(echo(CLEAR, 6000, 3000, played=False))
    assert dry.heard_at_clear("a") == 4000  # not 2000 ms x 8
    sent_less = PlaybackTracker(clock=lambda: 0.0)
    sent_less.on_echo(echo(START, 0, 1000))
    sent_less.on_echo(echo(CLEAR, 3000, 2000))  # the buffer was empty: echoed at once, played
    assert sent_less.heard_at_clear("a") == 3000  # all it had, not 1000 ms x 8


def test_a_reply_whose_start_mark_never_played_was_not_heard() -> None:
    tracker = PlaybackTracker(clock=lambda: 0.0)
    tracker.on_echo(echo(START, 500, 7000, played=False))  # flushed with the clear
    tracker.on_echo(echo(CLEAR, 2100, 7000, played=False))
    assert tracker.heard_at_clear("a") == 0


def test_echoes_without_twilios_clock_leave_the_truncate_to_the_bots_estimate() -> None:
    tracker = PlaybackTracker(clock=lambda: 0.0)
    tracker.on_echo(echo(START, 0, None))
    tracker.on_echo(echo(CLEAR, 100, None))
    assert not tracker.times_on_stream("a") and tracker.heard_at_clear("a") is None


def test_the_stream_tables_keep_only_recent_items() -> None:
    tracker = PlaybackTracker(keep_items=2, clock=lambda: 0.0)
    for n in range(50):  # replies cut before their start mark played: nothing else evicts them
        label = PlaybackTracker.start_label(f"item_{n}")
        tracker.on_echo(echo(label, n, n, played=False))
        if n % 2:  # half of them settled by their clear mark's echo, half never heard of again
            tracker.on_echo(echo(PlaybackTracker.clear_label(f"item_{n}"), n, n, played=False))
    assert list(tracker._stream_start) == ["item_48", "item_49"]
    assert list(tracker._flushed_on_stream) == ["item_48"]  # not settled yet: its clear may still echo
    assert list(tracker._heard_at_clear) == ["item_49"]  # settled at 0; the older ones forgotten


async def _replying(h: Harness) -> None:
    h.service._format_confirmed = True
    for _ in range(20):  # 400 ms produced
        await h.service._handle_evt_audio_delta(delta("a", SPEECHLESS))
    await h.service.process_frame(echo(START, 0, 1000), FrameDirection.DOWNSTREAM)


async def test_a_barge_in_marks_before_the_clear_and_truncates_when_that_mark_echoes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch)
    await _replying(h)
    h.now = 5.0  # the bot's clock says 5 s since the start echo: far more than the 200 ms really heard
    await h.service._handle_evt_speech_started(None)
    assert h.service._clearing is False  # only while the barge-in is handled
    kinds = [type(f) for f, d in h.frames if d is FrameDirection.DOWNSTREAM]
    urgent = kinds.index(OutputTransportMessageUrgentFrame)
    assert urgent < kinds.index(InterruptionFrame)  # the mark reaches Twilio ahead of the clear
    (mark,) = h.pushed(OutputTransportMessageUrgentFrame)
    assert mark.message == {"event": "mark", "mark": {"name": CLEAR}}
    assert h.socket.of_type("conversation.item.truncate") == []  # not yet: Twilio has not said
    assert "ReplyAudio._truncate_if_unanswered" in h.spawned
    assert h.service.stats.barge_ins == 1
    await h.service.process_frame(echo(CLEAR, 3200, 1200, played=False), FrameDirection.DOWNSTREAM)
    assert h.socket.of_type("conversation.item.truncate") == [
        {"type": "conversation.item.truncate", "item_id": "a", "content_index": 0, "audio_end_ms": 200}
    ]
    assert h.service.stats.truncations == [("a", 200, 400)]
    await h.service.process_frame(echo(CLEAR, 3200, 1300, played=False), FrameDirection.DOWNSTREAM)
    assert len(h.socket.of_type("conversation.item.truncate")) == 1  # once


async def test_with_no_echo_the_truncate_goes_at_the_estimate_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reply_audio, "CLEAR_ECHO_TIMEOUT_S", 0.0)
    h = Harness(monkeypatch)
    timers: list[Any] = []
    h.service._spawn = timers.append  # type: ignore[method-assign]
    await _replying(h)
    h.now = 0.15  # the estimate: 150 ms since the start echo
    await h.service._handle_evt_speech_started(None)
    assert h.socket.of_type("conversation.item.truncate") == []
    await timers.pop()
    assert h.socket.of_type("conversation.item.truncate") == [
        {"type": "conversation.item.truncate", "item_id": "a", "content_index": 0, "audio_end_ms": 150}
    ]
    assert h.service.stats.truncations == [("a", 150, 400)]
    await h.service._truncate_if_unanswered("a")  # settled: the timer does nothing more
    await h.service.process_frame(echo(CLEAR, 3200, 1200), FrameDirection.DOWNSTREAM)
    assert len(h.socket.of_type("conversation.item.truncate")) == 1


async def test_an_interruption_from_upstream_also_times_its_truncate_by_the_clear_mark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch)
    await _replying(h)
    await h.service._handle_interruption()
    assert [f.message["mark"]["name"] for f in h.pushed(OutputTransportMessageUrgentFrame)] == [CLEAR]
    assert h.service._clearing is False  # only while the interruption is handled


async def test_a_truncate_that_is_not_a_barge_in_goes_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    await _replying(h)
    h.now = 0.1
    await h.service._truncate_current_audio_response()  # e.g. the noise guard blocking a reply
    assert h.socket.of_type("conversation.item.truncate")[-1]["audio_end_ms"] == 100
    assert h.pushed(OutputTransportMessageUrgentFrame) == []


@pytest.mark.parametrize("cut", ["speech_started", "interruption"])
async def test_audio_of_a_cut_reply_still_on_its_way_is_not_played_past_the_cut(
    monkeypatch: pytest.MonkeyPatch, cut: str
) -> None:
    # The server sends deltas until it hears of the barge-in (with local turn detection, until the
    # cancel reaches it): played, they would sound after the clear and past where the truncate cut it.
    h = Harness(monkeypatch)
    await _replying(h)
    if cut == "speech_started":
        await h.service._handle_evt_speech_started(None)
    else:
        await h.service._handle_interruption()
    audio_before = len(h.pushed(TTSAudioRawFrame))
    starts_before = len(h.pushed(TTSStartedFrame))
    for _ in range(5):
        await h.service._handle_evt_audio_delta(delta("a", SPEECHLESS))
    assert len(h.pushed(TTSAudioRawFrame)) == audio_before == 20
    assert len(h.pushed(TTSStartedFrame)) == starts_before  # no new turn began for it either
    assert h.service.stats.cut_reply_bytes == 5 * len(SPEECHLESS)
    await h.service._handle_evt_audio_delta(delta("b", SPEECHLESS, response="resp_2"))  # the next reply
    assert len(h.pushed(TTSAudioRawFrame)) == 21 and h.service.stats.cut_reply_bytes == 5 * 160


async def test_the_cut_items_are_forgotten_with_the_rest_of_an_old_reply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch)
    h.service._format_confirmed = True
    for n in range(PlaybackTracker.KEEP_ITEMS + 3):
        await h.service._handle_evt_audio_delta(delta(f"i{n}", SPEECHLESS, response=f"r{n}"))
        await h.service._handle_interruption()
        await h.service._handle_bot_stopped_speaking()
    assert len(h.service._cut_items) == PlaybackTracker.KEEP_ITEMS
    assert f"i{PlaybackTracker.KEEP_ITEMS + 2}" in h.service._cut_items and "i0" not in h.service._cut_items
