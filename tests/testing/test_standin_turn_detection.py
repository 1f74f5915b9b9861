"""The stand-in's turn detection follows the session's ``turn_detection``, mode by mode.

Every test drives a real :class:`RealtimeStandIn` with a websocket client on 127.0.0.1 and reads the
events through the ``openai`` SDK's server event models. The VAD works on audio time (the position in
the appended audio), so a client that appends faster than real time measures the same waits.
"""

from __future__ import annotations

import asyncio
import math
from array import array
from collections.abc import AsyncIterator
from typing import Any

import pydantic
import pytest
from openai.types.realtime import (
    InputAudioBufferCommittedEvent,
    InputAudioBufferSpeechStartedEvent,
    InputAudioBufferSpeechStoppedEvent,
    RealtimeServerEvent,
    ResponseDoneEvent,
)

from pipecat_twilio_realtime import g711
from pipecat_twilio_realtime.testing import RealtimeStandIn, clip_duration_ms, load_clip
from pipecat_twilio_realtime.testing.realtime.vad import SEMANTIC_FINISHED_SPEECH_MS, SEMANTIC_WAITS_MS

from .test_standin import Client, _client

SERVER_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
LEAD_MS = 1000  # line silence before the caller speaks


@pytest.fixture
async def standin() -> AsyncIterator[RealtimeStandIn]:
    async with RealtimeStandIn(speed=math.inf) as server:
        yield server


@pytest.fixture
async def client(standin: RealtimeStandIn) -> AsyncIterator[Client]:
    async for c in _client(standin):
        yield c


def tone(ms: int, dbfs: float) -> bytes:
    """A 400 Hz μ-law tone at an RMS level (a sine's RMS is its peak / √2)."""
    peak = 32768 * 10 ** (dbfs / 20) * math.sqrt(2)
    samples = array("h", (round(peak * math.sin(2 * math.pi * 400 * n / 8000)) for n in range(8 * ms)))
    return g711.encode(samples.tobytes())


async def next_of(client: Client, model: type[Any]) -> Any:
    """The next server event of one SDK model type, parsed by the SDK."""
    while not isinstance(event := SERVER_EVENT.validate_python(await client.recv()), model):
        pass
    return event


async def turn(client: Client, speech: bytes, silence_ms: int) -> tuple[int, int]:
    """Speak after :data:`LEAD_MS` of silence; return (``audio_start_ms``, ``audio_end_ms``)."""
    await client.speak(b"\xff" * 8 * LEAD_MS + speech, silence_ms=silence_ms)
    started = await next_of(client, InputAudioBufferSpeechStartedEvent)
    stopped = await next_of(client, InputAudioBufferSpeechStoppedEvent)
    assert stopped.item_id == started.item_id
    return started.audio_start_ms, stopped.audio_end_ms


def vad(**turn_detection: Any) -> dict[str, Any]:
    return {"audio": {"input": {"format": {"type": "audio/pcmu"}, "turn_detection": turn_detection}}}


# ----------------------------------------------------------------------------- server_vad


@pytest.mark.parametrize("silence_ms", [200, 1500])
async def test_server_vad_silence_duration_sets_when_speech_stops(client: Client, silence_ms: int) -> None:
    await client.update_pcmu(**vad(type="server_vad", silence_duration_ms=silence_ms))
    speech_end = LEAD_MS + clip_duration_ms("caller_question")
    _, end = await turn(client, load_clip("caller_question"), silence_ms=3000)
    # the turn ends silence_duration_ms after the last speech frame (the clip's tail is quiet-ish)
    assert speech_end + silence_ms - 400 <= end <= speech_end + silence_ms + 40


@pytest.mark.parametrize("prefix_ms", [0, 500])
async def test_server_vad_prefix_padding_moves_audio_start_back(client: Client, prefix_ms: int) -> None:
    await client.update_pcmu(**vad(type="server_vad", prefix_padding_ms=prefix_ms))
    start, _ = await turn(client, tone(600, -20), silence_ms=1000)
    assert start == LEAD_MS - prefix_ms  # the tone starts exactly at LEAD_MS


@pytest.mark.parametrize(("threshold", "heard"), [(0.5, False), (0.2, True)])
async def test_server_vad_threshold_gates_quiet_speech(
    standin: RealtimeStandIn, client: Client, threshold: float, heard: bool
) -> None:
    # -45 dBFS: below the 0.5 gate (-40 dBFS), above the 0.2 gate (-52 dBFS)
    await client.update_pcmu(**vad(type="server_vad", threshold=threshold))
    await client.speak(b"\xff" * 8 * LEAD_MS + tone(1000, -45), silence_ms=1000)
    await client.send({"type": "input_audio_buffer.commit"})
    await next_of(client, InputAudioBufferCommittedEvent)  # everything appended has been analysed
    assert bool(client.of_type("input_audio_buffer.speech_started")) is heard


# ----------------------------------------------------------------------------- semantic_vad


@pytest.mark.parametrize("eagerness", ["low", "medium", "high", "auto"])
async def test_semantic_vad_waits_the_eagerness_maximum_after_a_fragment(
    client: Client, eagerness: str
) -> None:
    await client.update_pcmu(**vad(type="semantic_vad", eagerness=eagerness))
    fragment_ms = 300  # an "uhm": well short of a finished-sounding turn
    assert fragment_ms < SEMANTIC_FINISHED_SPEECH_MS
    _, end = await turn(client, tone(fragment_ms, -20), silence_ms=9000)
    wait = end - (LEAD_MS + fragment_ms)
    assert wait == {"low": 8000, "medium": 4000, "high": 2000, "auto": 4000}[eagerness]


@pytest.mark.parametrize("eagerness", ["low", "high"])
async def test_semantic_vad_ends_a_finished_sounding_turn_sooner(client: Client, eagerness: str) -> None:
    await client.update_pcmu(**vad(type="semantic_vad", eagerness=eagerness))
    _, end = await turn(client, tone(1500, -20), silence_ms=9000)
    finished_wait, max_wait = SEMANTIC_WAITS_MS[eagerness]
    frame = 20  # turn boundaries fall on 20 ms frames: a wait is rounded up to one
    assert end - (LEAD_MS + 1500) == math.ceil(finished_wait / frame) * frame < max_wait
    assert finished_wait == {"low": 1000, "high": 250}[eagerness]


async def test_semantic_vad_answers_a_caller_turn(client: Client) -> None:
    updated = await client.update_pcmu(**vad(type="semantic_vad"))
    assert updated["session"]["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "auto",
        "create_response": True,
        "interrupt_response": True,
    }
    await turn(client, load_clip("caller_question"), silence_ms=1000)
    done = await next_of(client, ResponseDoneEvent)
    assert done.response.status == "completed"


# ----------------------------------------------------------------------------- null


async def test_no_turn_detection_the_client_commits_and_asks(client: Client) -> None:
    await client.update_pcmu(audio={"input": {"format": {"type": "audio/pcmu"}, "turn_detection": None}})
    await client.speak(b"\xff" * 8 * LEAD_MS + load_clip("caller_question"), silence_ms=2000)
    await client.send({"type": "input_audio_buffer.commit"})
    committed = await next_of(client, InputAudioBufferCommittedEvent)
    assert not client.of_type("input_audio_buffer.speech_started")
    assert not client.of_type("input_audio_buffer.speech_stopped")
    assert not client.of_type("response.created")
    await client.send({"type": "response.create"})
    done = await next_of(client, ResponseDoneEvent)
    assert done.response.status == "completed" and committed.item_id


# ----------------------------------------------------------------------------- create / interrupt


@pytest.mark.parametrize("mode", ["server_vad", "semantic_vad"])
@pytest.mark.parametrize("create_response", [True, False])
async def test_create_response_decides_whether_a_turn_gets_a_reply(
    standin: RealtimeStandIn, client: Client, mode: str, create_response: bool
) -> None:
    await client.update_pcmu(**vad(type=mode, create_response=create_response))
    await turn(client, load_clip("caller_question"), silence_ms=1500)
    await next_of(client, InputAudioBufferCommittedEvent)
    if create_response:
        await standin.wait_for("response.created", timeout=2.0)
    else:
        await asyncio.sleep(0.5)  # a reply would have started at once (speed=inf)
        assert not [e for e in standin.sent if e["type"] == "response.created"]


@pytest.mark.parametrize("interrupt", [True, False])
async def test_interrupt_response_decides_whether_caller_speech_cancels(interrupt: bool) -> None:
    async with RealtimeStandIn(speed=2.0) as standin:  # the greeting lasts over a second on the wire
        async for client in _client(standin):
            await client.update_pcmu(**vad(type="server_vad", interrupt_response=interrupt))
            await client.send({"type": "response.create"})
            await standin.wait_for("response.output_audio.delta")
            await client.speak(load_clip("caller_interrupt"), silence_ms=100)
            await next_of(client, InputAudioBufferSpeechStartedEvent)
            done = await next_of(client, ResponseDoneEvent)
            if interrupt:
                assert done.response.status == "cancelled"
                assert done.response.status_details is not None
                assert done.response.status_details.reason == "turn_detected"
            else:
                assert done.response.status == "completed"


# ----------------------------------------------------------------------------- unmodelled fields


async def test_an_unmodelled_field_gets_one_warning_naming_it(client: Client, logs: list[str]) -> None:
    update = vad(type="server_vad", idle_timeout_ms=5000, threshold=0.6)
    update["audio"]["input"]["noise_reduction"] = {"type": "near_field"}
    await client.update_pcmu(**update)
    await client.update_pcmu(**update)  # the same again: no second line
    warnings = [line for line in logs if "WARNING" in line and "does not model" in line]
    assert len(warnings) == 2, warnings
    assert any("session.audio.input.turn_detection.idle_timeout_ms" in line for line in warnings)
    assert any("session.audio.input.noise_reduction" in line for line in warnings)
    assert not any("threshold" in line or "format" in line for line in warnings)


async def test_default_valued_and_content_fields_get_no_warning(client: Client, logs: list[str]) -> None:
    await client.update_pcmu(
        instructions="Be brief.",
        audio={
            "input": {"format": {"type": "audio/pcmu"}, "noise_reduction": None},
            "output": {"format": {"type": "audio/pcmu"}, "voice": "cedar", "speed": 1.0},
        },
    )
    assert not [line for line in logs if "does not model" in line]
