"""Every session the service opens or updates is pinned to audio/pcmu both ways, with phone turn detection;
caller audio waits for the server's confirmation, and any other confirmed format ends the call.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pipecat.services.openai.realtime import events
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService

from pipecat_twilio_realtime import (
    OpenAIRealtimeMuLawLLMService,
)
from pipecat_twilio_realtime.realtime.session_format import (
    PHONE_TURN_DETECTION,
    audio_formats,
    not_pcmu,
    voice_of,
    warn_extreme_turn_detection,
)
from pipecat_twilio_realtime.realtime.voices import check_voice, realtime_voices

from ._service_harness import Harness, caller, session_updated


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


async def test_a_mismatch_after_a_confirmed_session_unconfirms_it_and_caller_audio_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch)
    await h.service._handle_evt_session_updated(session_updated())
    await h.service._handle_evt_session_updated(session_updated("audio/pcm", "audio/pcmu"))
    await h.service._handle_evt_session_updated(session_updated("audio/pcm", "audio/pcmu"))
    assert h.service.format_confirmed is False and h.service.stats.format_mismatches == 2
    await h.service._send_user_audio(caller(b"\x01" * 160))
    assert h.service.stats.held_before_session_bytes == 0 and h.appended() == b""


async def test_a_session_with_no_formats_is_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    bare = events.parse_server_event(json.dumps({"type": "session.updated", "event_id": "e", "session": {}}))
    await h.service._handle_evt_session_updated(bare)
    assert h.service.format_confirmed is False and h.service.stats.format_mismatches == 1


class Restore:
    """The stock session.updated handler and the restore/response steps, recorded instead of run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, h: Harness) -> None:
        self.events: list[Any] = []
        self.steps: list[str] = []

        async def stock(_service: Any, evt: Any) -> None:
            self.events.append(evt)

        async def restore() -> None:
            self.steps.append("restore")

        async def respond() -> None:
            self.steps.append("respond")

        monkeypatch.setattr(OpenAIRealtimeLLMService, "_handle_evt_session_updated", stock)
        h.service._restore_conversation = restore  # type: ignore[method-assign]
        h.service._create_response = respond  # type: ignore[method-assign]


async def test_the_first_confirmation_restores_nothing_and_reaches_the_stock_handler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch)
    r = Restore(monkeypatch, h)
    evt = session_updated()
    await h.service._handle_evt_session_updated(evt)
    assert r.events == [evt] and r.steps == []
    assert h.service._session_confirmed.is_set() and h.service._confirmed_at > 0


@pytest.mark.parametrize(
    ("respond", "context", "steps"),
    [(True, True, ["restore", "respond"]), (False, True, ["restore"]), (True, False, ["restore"])],
)
async def test_a_reopened_session_restores_once_and_responds_only_when_owed(
    monkeypatch: pytest.MonkeyPatch, respond: bool, context: bool, steps: list[str]
) -> None:
    h = Harness(monkeypatch)
    r = Restore(monkeypatch, h)
    h.service._restore_on_confirm, h.service._respond_after_restore = True, respond
    h.service._context = object() if context else None  # type: ignore[assignment]
    await h.service._handle_evt_session_updated(session_updated())
    await h.service._handle_evt_session_updated(session_updated())  # a later settings update
    assert r.steps == steps
    assert h.service._respond_after_restore is (respond and not context)


async def test_without_a_restore_a_response_owed_is_not_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    r = Restore(monkeypatch, h)
    h.service._respond_after_restore = True
    h.service._context = object()  # type: ignore[assignment]
    await h.service._handle_evt_session_updated(session_updated())
    assert r.steps == []


async def test_session_created_is_logged_with_the_servers_formats_and_reaches_the_stock_handler(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    seen: list[Any] = []

    async def stock(_service: Any, evt: Any) -> None:
        seen.append(evt)

    monkeypatch.setattr(OpenAIRealtimeLLMService, "_handle_evt_session_created", stock)
    h = Harness(monkeypatch)
    created = events.parse_server_event(
        json.dumps(
            {
                "type": "session.created",
                "event_id": "e",
                "session": {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}}},
            }
        )
    )
    await h.service._handle_evt_session_created(created)
    assert seen == [created]
    assert any(
        "DEBUG" in line and "session.created with server default formats {'input': 'audio/pcm'" in line
        for line in logs
    )
