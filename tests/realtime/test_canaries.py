"""Canaries: the Pipecat internals OpenAIRealtimeMuLawLLMService relies on. A failure here means a new
Pipecat changed them: re-read services/openai/realtime/llm.py before widening the version bound."""

from __future__ import annotations

import base64
import inspect
from typing import Any

import pipecat
import pytest
from pipecat.frames.frames import InputAudioRawFrame
from pipecat.services.openai.realtime import events
from pipecat.services.openai.realtime.llm import CurrentAudioResponse, OpenAIRealtimeLLMService

from pipecat_twilio_realtime import OpenAIRealtimeMuLawLLMService, g711
from pipecat_twilio_realtime.realtime import stock_seams


def test_pipecat_is_the_tested_minor() -> None:
    assert pipecat.version().startswith("1.14."), "re-check every hook below against the new release"


def _parameters(function: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


def seam_problems(stock: type[OpenAIRealtimeLLMService] = OpenAIRealtimeLLMService) -> list[str]:
    """Every seam of ours that ``stock`` no longer offers in the shape we use."""
    seams = stock_seams(OpenAIRealtimeMuLawLLMService, stock)
    problems = []
    for name in seams.hooks:
        theirs = getattr(stock, name, None)
        if theirs is None:
            problems.append(f"hook {name} is gone")
        elif _parameters(theirs) != _parameters(getattr(OpenAIRealtimeMuLawLLMService, name)):
            problems.append(f"hook {name} changed signature: {inspect.signature(theirs)}")
    instance = stock(api_key="sk-test")
    problems += [f"attribute {a} is gone" for a in seams.attributes if not hasattr(instance, a)]
    return problems


def test_no_seam_with_the_stock_service_has_changed() -> None:
    assert seam_problems() == []


def test_the_seams_are_read_from_the_class() -> None:
    seams = stock_seams()
    # the hooks a hand-kept list once missed, and the attributes it missed
    assert {"_handle_evt_speech_stopped", "_receive_task_handler", "_handle_evt_error", "_ws_send"} <= set(
        seams.hooks
    )
    assert {"process_frame", "push_frame", "send_client_event", "_send_user_audio"} <= set(seams.hooks)
    assert {"_websocket", "_disconnecting", "_is_turn_detection_disabled"} <= set(seams.attributes)
    own = {"_stats", "_playback", "_format_confirmed", "_pinned", "_append"}
    assert not own & (set(seams.attributes) | set(seams.hooks)), "our own names are not seams"
    ours = [
        k for k in OpenAIRealtimeMuLawLLMService.__mro__ if k.__module__.startswith("pipecat_twilio_realtime")
    ]
    for name in seams.hooks:  # each hook is defined by one of our classes (the service and its parts)
        assert any(name in vars(k) for k in ours), name


def test_the_canary_catches_a_removed_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(OpenAIRealtimeLLMService, "_handle_evt_speech_stopped")
    assert seam_problems() == ["hook _handle_evt_speech_stopped is gone"]


def test_the_canary_catches_a_changed_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    async def reshaped(self: Any, evt: Any, extra: int) -> None: ...

    monkeypatch.setattr(OpenAIRealtimeLLMService, "_handle_evt_audio_delta", reshaped)
    [problem] = seam_problems()
    assert problem.startswith("hook _handle_evt_audio_delta changed signature: (self") and "extra" in problem


def test_the_canary_catches_a_removed_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    original = OpenAIRealtimeLLMService.__init__

    def without_disconnecting(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        del self._disconnecting

    monkeypatch.setattr(OpenAIRealtimeLLMService, "__init__", without_disconnecting)
    assert seam_problems() == ["attribute _disconnecting is gone"]


def test_the_receive_loop_still_dispatches_to_our_hooks() -> None:
    source = inspect.getsource(OpenAIRealtimeLLMService._receive_task_handler)
    for event_type, hook in [
        ("response.output_audio.delta", "_handle_evt_audio_delta"),
        ("session.updated", "_handle_evt_session_updated"),
        ("session.created", "_handle_evt_session_created"),
        ("input_audio_buffer.speech_started", "_handle_evt_speech_started"),
    ]:
        assert f'"{event_type}"' in source and f"self.{hook}(evt)" in source, event_type


def test_stock_service_still_resamples_to_24k_pcm_so_our_override_matters() -> None:
    assert (
        inspect.signature(OpenAIRealtimeLLMService._calculate_audio_duration_ms)
        .parameters["sample_rate"]
        .default
        == 24000
    )
    assert "resample" in inspect.getsource(OpenAIRealtimeLLMService._send_user_audio)
    assert "sample_rate=OPENAI_SAMPLE_RATE" in inspect.getsource(
        OpenAIRealtimeLLMService._handle_evt_audio_delta
    )


async def test_stock_send_user_audio_resamples_8k_input() -> None:
    """Behavioural proof of the bug we exist for: stock turns 160 samples at 8 kHz into ~480 at 24 kHz."""
    sent: list[dict[str, Any]] = []

    async def record(message: dict[str, Any]) -> None:
        sent.append(message)

    stock = OpenAIRealtimeLLMService(api_key="sk-test")
    stock._ws_send = record  # type: ignore[method-assign]
    ours = OpenAIRealtimeMuLawLLMService(api_key="sk-test")
    ours._ws_send = record  # type: ignore[method-assign]
    ours._format_confirmed = True
    pcm = g711.decode(bytes(range(160)))
    for service in (stock, ours):
        for _ in range(10):  # the stream resampler holds audio back at first
            await service._send_user_audio(InputAudioRawFrame(audio=pcm, sample_rate=8000, num_channels=1))
    stock_bytes = sum(len(base64.b64decode(m["audio"])) for m in sent[: len(sent) - 10])
    ours_payloads = [base64.b64decode(m["audio"]) for m in sent[-10:]]
    assert stock_bytes > 10 * 320 * 2  # PCM16 at 24 kHz: 3x the samples, 2 bytes each
    assert ours_payloads == [bytes(range(160)).replace(b"\x7f", b"\xff")] * 10


def test_apply_update_still_replaces_session_properties_wholesale() -> None:
    settings = OpenAIRealtimeLLMService.Settings(
        session_properties=events.SessionProperties(
            audio=events.AudioConfiguration(output=events.AudioOutput(format=events.PCMUAudioFormat()))
        )
    )
    settings.apply_update(OpenAIRealtimeLLMService.Settings(session_properties=events.SessionProperties()))
    assert settings.session_properties.audio is None  # so pinning at send time is required


def test_current_audio_response_fields_we_touch() -> None:
    fields = {f for f in CurrentAudioResponse.__dataclass_fields__}
    assert {"item_id", "content_index", "start_time_ms", "total_size", "response_id"} <= fields
    assert hasattr(events, "PCMUAudioFormat") and events.PCMUAudioFormat().type == "audio/pcmu"
