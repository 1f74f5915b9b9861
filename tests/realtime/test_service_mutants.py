"""The μ-law Realtime service's hooks driven directly with SDK-parsed events: fast, no server, no clock.

The real-time calls in ``test_realtime_service.py`` prove the whole path; these pin the logic of each hook
(what goes on the wire to OpenAI, which frames are pushed, which counters move) so that mutation testing
(``scripts/mutation.py realtime.service``) can run them per mutant in a fraction of a second.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
)
from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.openai.realtime import events
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService
from websockets.protocol import State

from pipecat_twilio_realtime import (
    OpenAIRealtimeMuLawLLMService,
    TwilioMarkEchoFrame,
    TwilioMarkRequestFrame,
    g711,
)
from pipecat_twilio_realtime.realtime.fallback import FALLBACK_MARK
from pipecat_twilio_realtime.realtime.playback import PlaybackTracker
from pipecat_twilio_realtime.realtime.session_format import (
    PHONE_TURN_DETECTION,
    audio_formats,
    not_pcmu,
    voice_of,
    warn_extreme_turn_detection,
)
from pipecat_twilio_realtime.realtime.voices import check_voice, realtime_voices

SPEECHLESS = bytes([0xFF]) * 160  # μ-law silence: passes the reply guard


class FakeSocket:
    """The OpenAI websocket as the service writes to it."""

    def __init__(self) -> None:
        self.state = State.OPEN
        self.sent: list[dict[str, Any]] = []

    async def send(self, text: str) -> None:
        message = json.loads(text)
        message.pop("event_id", None)  # a fresh UUID per event
        self.sent.append(message)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("type") == kind]


class Harness:
    """A service with a fake socket, recording every frame it pushes past its own ``push_frame``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> None:
        self.frames: list[tuple[Frame, FrameDirection]] = []

        async def record(
            _self: Any, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM
        ) -> None:
            self.frames.append((frame, direction))

        monkeypatch.setattr(OpenAIRealtimeLLMService, "push_frame", record)
        self.service = OpenAIRealtimeMuLawLLMService(api_key="sk-test", reply_guard=False, **kwargs)
        self.socket = FakeSocket()
        self.service._websocket = self.socket  # type: ignore[assignment]
        self.now = 0.0  # the playback tracker's clock: moved by the tests, never by the machine
        self.service._playback = PlaybackTracker(clock=lambda: self.now)
        self.spawned: list[str] = []  # background work (the fallback, a reconnect), recorded, not run

        def spawn(coroutine: Any) -> None:
            self.spawned.append(coroutine.__qualname__)
            coroutine.close()

        self.service._spawn = spawn  # type: ignore[method-assign]

    def pushed(self, kind: type, direction: FrameDirection | None = None) -> list[Any]:
        return [f for f, d in self.frames if isinstance(f, kind) and (direction is None or d is direction)]

    def appended(self) -> bytes:
        return b"".join(
            base64.b64decode(m["audio"]) for m in self.socket.of_type("input_audio_buffer.append")
        )


def session_updated(fmt_in: str = "audio/pcmu", fmt_out: str = "audio/pcmu") -> Any:
    return events.parse_server_event(
        json.dumps(
            {
                "type": "session.updated",
                "event_id": "evt_1",
                "session": {
                    "audio": {
                        "input": {
                            "format": {"type": fmt_in, **({"rate": 24000} if fmt_in == "audio/pcm" else {})}
                        },
                        "output": {
                            "format": {"type": fmt_out, **({"rate": 24000} if fmt_out == "audio/pcm" else {})}
                        },
                    }
                },
            }
        )
    )


def delta(item: str, ulaw: bytes, response: str = "resp_1") -> Any:
    return events.parse_server_event(
        json.dumps(
            {
                "type": "response.output_audio.delta",
                "event_id": "evt",
                "response_id": response,
                "item_id": item,
                "output_index": 0,
                "content_index": 0,
                "delta": base64.b64encode(ulaw).decode(),
            }
        )
    )


def error_event(code: str | None, message: str = "nope", param: str | None = None) -> Any:
    return events.parse_server_event(
        json.dumps(
            {
                "type": "error",
                "event_id": "evt",
                "error": {"type": "invalid_request_error", "code": code, "message": message, "param": param},
            }
        )
    )


def caller(pcm_ulaw: bytes, rate: int = 8000, channels: int = 1) -> InputAudioRawFrame:
    return InputAudioRawFrame(audio=g711.decode(pcm_ulaw), sample_rate=rate, num_channels=channels)


# ----------------------------------------------------------------------------- construction and pinning


@pytest.mark.parametrize("name", ["mark_interval_ms", "max_pending_input_ms", "append_interval_ms"])
@pytest.mark.parametrize("value", [0, -20])
def test_intervals_must_be_positive(name: str, value: int) -> None:
    with pytest.raises(ValueError, match=f"{name} must be positive, got {value}"):
        OpenAIRealtimeMuLawLLMService(api_key="sk-test", **{name: value})
    OpenAIRealtimeMuLawLLMService(api_key="sk-test", **{name: 1})


def test_the_stored_session_is_pinned_to_pcmu_with_phone_vad() -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test")
    props = service._settings.session_properties  # type: ignore[attr-defined]
    assert audio_formats(props) == {"input": "audio/pcmu", "output": "audio/pcmu"}
    assert props.audio.input.turn_detection == PHONE_TURN_DETECTION
    assert props.audio.input.turn_detection is not PHONE_TURN_DETECTION  # a copy, never the shared one


def test_a_session_update_is_pinned_on_the_wire_and_keeps_its_other_settings(logs: list[str]) -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test")
    td = events.TurnDetection(
        type="server_vad", threshold=0.95, prefix_padding_ms=300, silence_duration_ms=500
    )
    asked = events.SessionProperties(
        instructions="be brief",
        audio=events.AudioConfiguration(
            input=events.AudioInput(format=events.PCMAudioFormat(), turn_detection=td),
            output=events.AudioOutput(format=events.PCMAAudioFormat(), voice="marin"),
        ),
    )
    pinned = service._pinned(asked)
    assert audio_formats(pinned) == {"input": "audio/pcmu", "output": "audio/pcmu"}
    assert pinned.instructions == "be brief" and voice_of(pinned) == "marin"
    assert pinned.audio.input.turn_detection.threshold == 0.95
    assert audio_formats(asked) == {"input": "audio/pcm", "output": "audio/pcma"}  # not changed in place
    assert any("ERROR" in line and "ignoring a request for audio format" in line for line in logs)
    assert any("WARNING" in line and "threshold 0.95" in line for line in logs)


async def test_send_client_event_pins_every_session_update(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    update = events.SessionUpdateEvent(
        session=events.SessionProperties(
            audio=events.AudioConfiguration(input=events.AudioInput(format=events.PCMAudioFormat()))
        )
    )
    await h.service.send_client_event(update)
    sent = h.socket.of_type("session.update")[0]["session"]["audio"]
    assert sent["input"]["format"] == {"type": "audio/pcmu"} and sent["output"]["format"] == {
        "type": "audio/pcmu"
    }
    await h.service.send_client_event(events.ResponseCancelEvent())
    assert h.socket.sent[-1]["type"] == "response.cancel"


@pytest.mark.parametrize(
    ("td", "warned"),
    [
        ({"threshold": 0.2, "silence_duration_ms": 200, "prefix_padding_ms": 100}, []),
        ({"threshold": 0.9, "silence_duration_ms": 2000, "prefix_padding_ms": 1000}, []),
        ({"threshold": 0.19}, ["threshold 0.19"]),
        ({"threshold": 0.91}, ["threshold 0.91"]),
        ({"silence_duration_ms": 199}, ["silence_duration_ms 199"]),
        ({"silence_duration_ms": 2001}, ["silence_duration_ms 2001"]),
        ({"prefix_padding_ms": 99}, ["prefix_padding_ms 99"]),
        ({"prefix_padding_ms": 1001}, ["prefix_padding_ms 1001"]),
        (
            {"threshold": 0.0, "silence_duration_ms": 0, "prefix_padding_ms": 0},
            ["threshold", "silence", "prefix"],
        ),
    ],
)
def test_extreme_vad_settings_are_warned_at_their_edges(
    td: dict[str, Any], warned: list[str], logs: list[str]
) -> None:
    warn_extreme_turn_detection(events.TurnDetection(type="server_vad", **td), "svc")
    warnings = [line for line in logs if "WARNING" in line]
    assert len(warnings) == len(warned)
    for part, line in zip(warned, warnings, strict=True):
        assert part in line and "svc" in line


def test_a_turn_detection_that_is_not_server_vad_settings_is_not_checked(logs: list[str]) -> None:
    warn_extreme_turn_detection(None, "svc")
    warn_extreme_turn_detection({"threshold": 0.0}, "svc")
    assert logs == []


def test_session_format_helpers() -> None:
    assert audio_formats(None) == {"input": None, "output": None}
    assert not_pcmu(None, missing_ok=True) == {}
    assert not_pcmu(None, missing_ok=False) == {"input": None, "output": None}
    half = events.SessionProperties(
        audio=events.AudioConfiguration(output=events.AudioOutput(format=events.PCMUAudioFormat()))
    )
    assert not_pcmu(half, missing_ok=False) == {"input": None}
    assert voice_of(None) is None and voice_of(half) is None


def test_voices() -> None:
    voices = realtime_voices()
    assert "marin" in voices and "alloy" in voices and "fable" not in voices
    for voice in voices:
        check_voice(voice)
    check_voice("voice_abc")
    with pytest.raises(ValueError, match="'fable' is a text-to-speech voice") as info:
        check_voice("fable")
    assert "marin" in str(info.value) and "voice_…" in str(info.value)
    with pytest.raises(ValueError, match="'Voice_1' is not a Realtime voice"):
        check_voice("Voice_1")


# ----------------------------------------------------------------------------- the session format on the wire


async def test_a_confirmed_pcmu_session_releases_the_held_caller_audio(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    h = Harness(monkeypatch)
    await h.service._send_user_audio(caller(b"\x01" * 160))
    await h.service._send_user_audio(caller(b"\x02" * 160))
    assert h.appended() == b"" and h.service.stats.held_before_session_bytes == 320
    assert not h.service.format_confirmed
    await h.service._handle_evt_session_updated(session_updated())
    assert h.service.format_confirmed
    assert h.appended() == b"\x01" * 160 + b"\x02" * 160
    assert (h.service.stats.appends, h.service.stats.appended_bytes) == (1, 320)
    await h.service._handle_evt_session_updated(session_updated())
    assert sum("server confirmed audio/pcmu" in line for line in logs) == 1
    await h.service._send_user_audio(caller(b"\x03" * 160))
    assert h.appended().endswith(b"\x03" * 160) and h.service.stats.appends == 2


async def test_held_audio_is_capped_and_the_excess_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch, max_pending_input_ms=30)
    for byte in (1, 2):
        await h.service._send_user_audio(caller(bytes([byte]) * 160))
    assert h.service.stats.dropped_input_bytes == 80
    await h.service._handle_evt_session_updated(session_updated())
    assert h.appended() == b"\x01" * 80 + b"\x02" * 160


@pytest.mark.parametrize(("fmt_in", "fmt_out"), [("audio/pcm", "audio/pcmu"), ("audio/pcmu", "audio/pcma")])
async def test_a_session_confirmed_in_another_format_ends_the_call(
    monkeypatch: pytest.MonkeyPatch, fmt_in: str, fmt_out: str, logs: list[str]
) -> None:
    h = Harness(monkeypatch)
    await h.service._send_user_audio(caller(b"\x01" * 160))
    await h.service._handle_evt_session_updated(session_updated(fmt_in, fmt_out))
    assert not h.service.format_confirmed and h.service.stats.format_mismatches == 1
    assert h.spawned == ["play_and_end"]  # the apology, then the end: never the noise
    wrong = "input=audio/pcm" if fmt_in != "audio/pcmu" else "output=audio/pcma"
    assert f"confirmed {wrong} instead of audio/pcmu" in (h.service.stats.session_failure or "")
    assert sum("ERROR" in line and f"confirmed {wrong} instead of audio/pcmu" in line for line in logs) == 1
    await h.service._send_user_audio(caller(b"\x02" * 160))  # nothing more is held or sent
    assert h.appended() == b"" and h.service.stats.held_before_session_bytes == 160


# ----------------------------------------------------------------------------- caller audio


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


# ----------------------------------------------------------------------------- reply audio


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


# ----------------------------------------------------------------------------- barge-in and truncation


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


async def test_only_the_last_eight_items_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    h.service._format_confirmed = True
    for n in range(10):
        h.service._current_audio_response = None
        await h.service._handle_evt_audio_delta(delta(f"item_{n}", SPEECHLESS))
    await h.service._handle_bot_stopped_speaking()
    assert list(h.service._produced) == [f"item_{n}" for n in range(2, 10)]


# ----------------------------------------------------------------------------- errors and a lost session


@pytest.mark.parametrize(
    ("code", "param"),
    [("item_truncate_invalid_audio_end_ms", None), (None, "audio_end_ms"), ("x", "a.audio_end_ms")],
)
async def test_a_rejected_truncate_is_recoverable(
    monkeypatch: pytest.MonkeyPatch, code: str | None, param: str | None, logs: list[str]
) -> None:
    h = Harness(monkeypatch)
    await h.service._handle_evt_error(error_event(code, param=param))
    assert h.service._recoverable_error and h.service.stats.recovered_errors == 1
    assert h.service._fatal_error is None and h.pushed(ErrorFrame) == []
    assert any("WARNING" in line and "rejected a truncate (nope)" in line for line in logs)


async def test_any_other_error_is_fatal_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    await h.service._handle_evt_error(error_event("server_error", "x" * 200))
    assert not h.service._recoverable_error and h.service.stats.recovered_errors == 0
    assert h.service._fatal_error == "error event server_error: " + "x" * 160
    assert len(h.pushed(ErrorFrame)) == 1 and not h.service._expired
    await h.service._handle_evt_error(error_event(None, "m"))
    assert h.service._fatal_error == "error event invalid_request_error: m"


async def test_the_session_time_limit_is_not_an_error_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    await h.service._handle_evt_error(error_event("session_expired", "Your session hit the maximum duration"))
    assert h.service._expired and h.pushed(ErrorFrame) == []  # it reconnects instead


async def test_a_closed_socket_ends_the_call_once_and_later_sends_are_counted(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    h = Harness(monkeypatch)
    h.socket.state = State.CLOSED
    for _ in range(3):
        await h.service.send_client_event(events.ResponseCancelEvent())
    assert h.socket.sent == [] and h.service.stats.dropped_after_loss == 3
    assert h.spawned == ["SessionLifecycle._reconnect"]  # once, not per send: a new session is opened


async def test_a_closed_socket_without_reconnects_ends_the_call_once(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    h = Harness(monkeypatch, reconnect_attempts=0)
    h.socket.state = State.CLOSED
    for _ in range(3):
        await h.service.send_client_event(events.ResponseCancelEvent())
    assert h.service.stats.realtime_lost == 1 and h.service.stats.dropped_after_loss == 3
    assert h.spawned == ["play_and_end"]
    assert sum("lost the OpenAI Realtime session (the connection is closed)" in line for line in logs) == 1


async def test_an_open_socket_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    await h.service.send_client_event(events.ResponseCancelEvent())
    assert h.socket.sent == [{"type": "response.cancel"}] and h.service.stats.dropped_after_loss == 0


# ----------------------------------------------------------------------------- frames that end here


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
