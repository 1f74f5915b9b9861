"""Building the service: the documented defaults, every bad value refused by name, what reaches the stock
service, the two event handlers it adds, and what it is given kept as given.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from pipecat.services.openai.realtime import events
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService

from pipecat_twilio_realtime import OpenAIRealtimeMuLawLLMService
from pipecat_twilio_realtime.realtime import lifecycle
from pipecat_twilio_realtime.realtime.connection import MAX_MESSAGE_BYTES

from ._service_harness import Harness

DOCUMENTED_DEFAULTS = {
    "base_url": None,
    "settings": None,
    "mark_interval_ms": 500,
    "max_pending_input_ms": 2000,
    "append_interval_ms": 20,
    "audio_passthrough": None,
    "reply_guard": True,
    "session_ready_timeout_s": 5.0,
    "stall_timeout_s": 8.0,
    "reconnect_attempts": 2,
    "max_message_bytes": MAX_MESSAGE_BYTES,
    "fallback_audio": None,
    "transfer_to": None,
    "end_call_on_failure": True,
    "prices": None,
    "dtmf_to_model": False,
}


def test_the_defaults_are_the_documented_ones() -> None:
    parameters = inspect.signature(OpenAIRealtimeMuLawLLMService.__init__).parameters
    defaults = {name: p.default for name, p in parameters.items() if p.default is not inspect.Parameter.empty}
    assert defaults == DOCUMENTED_DEFAULTS
    assert MAX_MESSAGE_BYTES == 4 * 1024 * 1024


@pytest.mark.parametrize(
    "name",
    [
        "mark_interval_ms",
        "max_pending_input_ms",
        "append_interval_ms",
        "session_ready_timeout_s",
        "stall_timeout_s",
        "max_message_bytes",
    ],
)
def test_every_bound_that_must_be_positive_is_refused_by_name(name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be positive, got 0$"):
        OpenAIRealtimeMuLawLLMService(api_key="sk-test", **{name: 0})


def test_negative_reconnect_attempts_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^reconnect_attempts must not be negative, got -1$"):
        OpenAIRealtimeMuLawLLMService(api_key="sk-test", reconnect_attempts=-1)
    OpenAIRealtimeMuLawLLMService(api_key="sk-test", reconnect_attempts=0)


def test_a_pcm_session_passed_the_deprecated_way_is_refused_too() -> None:
    pcm = events.SessionProperties(
        audio=events.AudioConfiguration(input=events.AudioInput(format=events.PCMAudioFormat()))
    )
    with pytest.raises(ValueError, match="the settings ask for input=audio/pcm"):
        OpenAIRealtimeMuLawLLMService(api_key="sk-test", session_properties=pcm)


def test_the_key_and_the_stock_options_reach_the_stock_service() -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-given", start_audio_paused=True)
    assert service.api_key == "sk-given"
    assert service._audio_input_paused is True


async def test_both_event_handlers_can_be_registered_and_are_called() -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test")
    calls: list[tuple[str, tuple[Any, ...]]] = []
    for name in ("on_session_failed", "on_session_reconnected"):

        async def handler(_service: Any, *args: Any, name: str = name) -> None:
            calls.append((name, args))

        service.add_event_handler(name, handler)
        await service._call_event_handler(name, "why")
        await asyncio.sleep(0)  # async handlers run as tasks
    assert calls == [("on_session_failed", ("why",)), ("on_session_reconnected", ("why",))]


def test_what_it_is_given_is_kept() -> None:
    service = OpenAIRealtimeMuLawLLMService(
        api_key="sk-test", fallback_audio=b"\x01" * 80, transfer_to="+15550100", stall_timeout_s=3.5
    )
    assert service._fallback_audio == b"\x01" * 80 and service._transfer_to == "+15550100"
    assert service._watch.stall_timeout_s == 3.5
    assert OpenAIRealtimeMuLawLLMService(api_key="sk-test", fallback_audio=b"")._fallback_audio == b""


def test_before_any_session_nothing_is_confirmed() -> None:
    assert OpenAIRealtimeMuLawLLMService(api_key="sk-test").format_confirmed is False


def test_the_users_session_properties_are_not_changed() -> None:
    mine = events.SessionProperties(audio=events.AudioConfiguration(input=events.AudioInput()))
    OpenAIRealtimeMuLawLLMService(
        api_key="sk-test", settings=OpenAIRealtimeLLMService.Settings(session_properties=mine)
    )
    assert mine.audio is not None and mine.audio.input is not None
    assert (
        mine.audio.input.format is None
        and mine.audio.input.turn_detection is None
        and mine.audio.output is None
    )


def test_settings_without_session_properties_get_pinned_ones() -> None:
    settings = OpenAIRealtimeLLMService.Settings()  # session_properties NOT_GIVEN
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test", settings=settings)
    props = service._settings.session_properties
    assert isinstance(props, events.SessionProperties)
    assert props.audio is not None and props.audio.input is not None and props.audio.output is not None
    assert props.audio.input.format.type == "audio/pcmu" and props.audio.output.format.type == "audio/pcmu"


def test_formats_left_out_are_pinned_without_an_error(logs: list[str]) -> None:
    OpenAIRealtimeMuLawLLMService(api_key="sk-test")
    assert not any("ERROR" in line for line in logs)


def test_an_extreme_vad_warning_names_the_service(logs: list[str]) -> None:
    td = events.TurnDetection(type="server_vad", threshold=0.99)
    props = events.SessionProperties(
        audio=events.AudioConfiguration(input=events.AudioInput(turn_detection=td))
    )
    service = OpenAIRealtimeMuLawLLMService(
        api_key="sk-test", settings=OpenAIRealtimeLLMService.Settings(session_properties=props)
    )
    assert any("WARNING" in line and f"{service} " in line and "threshold" in line for line in logs)


async def test_one_watch_runs_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    ticks: list[float] = []

    async def tick(seconds: float) -> None:
        ticks.append(seconds)
        h.service._closing = True  # the call ends after one tick

    monkeypatch.setattr(lifecycle.asyncio, "sleep", tick)
    await h.service._watch_session()
    await h.service._watch_session()  # a second watch (a reconnect) does not start another loop
    assert len(ticks) == 1
