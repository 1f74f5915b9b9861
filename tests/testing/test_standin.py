"""Tests for the local OpenAI Realtime stand-in, over real websockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import pydantic
import pytest
from openai.types.realtime import RealtimeServerEvent
from pipecat.services.openai.realtime.events import parse_server_event
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from pipecat_twilio_realtime import g711
from pipecat_twilio_realtime.testing import (
    CLIP_NAMES,
    CLIP_TEXTS,
    EnergyVad,
    RealtimeStandIn,
    clip_duration_ms,
    load_clip,
)
from pipecat_twilio_realtime.testing.realtime import Faults, refused_url, replies

TIMEOUT = 5.0
PCMU = {"type": "audio/pcmu"}
SERVER_EVENT = pydantic.TypeAdapter(RealtimeServerEvent)


class Client:
    """A plain websocket client that keeps every server event it read."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def recv(self) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            event = json.loads(await self.ws.recv())
        self.events.append(event)
        return event

    async def until(self, event_type: str) -> dict[str, Any]:
        while (event := await self.recv())["type"] != event_type:
            pass
        return event

    async def update_pcmu(self, **session: Any) -> dict[str, Any]:
        await self.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"format": PCMU}, "output": {"format": PCMU}},
                    **session,
                },
            }
        )
        return await self.until("session.updated")

    async def speak(self, ulaw: bytes, silence_ms: int = 1000) -> None:
        """Append audio as Twilio would: 20 ms (160-byte) chunks, then line silence."""
        audio = ulaw + b"\xff" * (8 * silence_ms)
        for i in range(0, len(audio), 160):
            chunk = base64.b64encode(audio[i : i + 160]).decode()
            await self.send({"type": "input_audio_buffer.append", "audio": chunk})

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == event_type]

    def delta_bytes(self) -> bytes:
        return b"".join(base64.b64decode(e["delta"]) for e in self.of_type("response.output_audio.delta"))


async def _client(standin: RealtimeStandIn, **kwargs: Any) -> AsyncIterator[Client]:
    async with connect(standin.url + "?model=gpt-realtime", **kwargs) as ws:
        client = Client(ws)
        assert (await client.recv())["type"] == "session.created"
        yield client


@pytest.fixture
async def standin() -> AsyncIterator[RealtimeStandIn]:
    async with RealtimeStandIn(speed=math.inf) as server:
        yield server


@pytest.fixture
async def client(standin: RealtimeStandIn) -> AsyncIterator[Client]:
    async for c in _client(standin):
        yield c


# ----------------------------------------------------------------------------- clips


def test_clips_are_mulaw_speech_of_sane_length() -> None:
    assert set(CLIP_NAMES) >= {"bot_greeting", "bot_answer", "caller_question", "caller_interrupt"}
    for name in CLIP_NAMES:
        clip = load_clip(name)
        assert 1500 <= clip_duration_ms(name) <= 6500, name
        pcm = g711.decode(clip)
        samples = [int.from_bytes(pcm[i : i + 2], "little", signed=True) for i in range(0, len(pcm), 2)]
        assert EnergyVad.rms_dbfs(samples) > -30, name  # phone-level speech, not silence or noise floor
    assert 4000 <= clip_duration_ms("bot_answer") <= 6000
    with pytest.raises(ValueError, match="unknown clip"):
        load_clip("nope")


def test_energy_vad_gate_mapping_and_turn() -> None:
    assert EnergyVad(0.5).gate_dbfs == -40.0
    assert EnergyVad(0.0).gate_dbfs == -60.0
    assert EnergyVad(1.0).gate_dbfs == -20.0
    vad = EnergyVad(0.5, prefix_padding_ms=300, silence_duration_ms=500)
    silence = g711.decode(b"\xff" * 8 * 1000)
    boundaries = vad.feed(silence + g711.decode(load_clip("caller_question")) + silence, 8000)
    assert [kind for kind, _ in boundaries] == ["started", "stopped"]
    start, end = boundaries[0][1], boundaries[1][1]
    assert 600 <= start <= 1000  # onset just after 1000 ms, moved back by the 300 ms prefix
    assert 1000 + clip_duration_ms("caller_question") <= end + 200


# ----------------------------------------------------------------------------- session


async def test_session_created_on_connect_is_ga_and_default_pcm(standin: RealtimeStandIn) -> None:
    async with connect(standin.url + "?model=gpt-realtime-mini") as ws:
        created = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert created["type"] == "session.created"
    SERVER_EVENT.validate_python(created)
    session = created["session"]
    assert session["type"] == "realtime"
    assert session["model"] == "gpt-realtime-mini"
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert standin.connections[0]["path"] == "/v1/realtime?model=gpt-realtime-mini"


async def test_session_update_pcmu_both_ways_is_accepted_and_echoed(
    standin: RealtimeStandIn, client: Client
) -> None:
    updated = await client.update_pcmu(instructions="Be brief.")
    assert updated["session"]["audio"]["input"]["format"] == PCMU
    assert updated["session"]["audio"]["output"]["format"] == PCMU
    assert updated["session"]["instructions"] == "Be brief."
    # the server VAD defaults survive a partial update
    assert updated["session"]["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 500
    assert standin.session["audio"]["output"]["format"] == PCMU
    assert standin.errors == []
    assert standin.received[0]["type"] == "session.update"


@pytest.mark.parametrize(
    ("event", "param", "named"),
    [
        (
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"format": {"type": "audio/pcmu", "rate_x": 8000}}},
                },
            },
            "session.audio.input.format.rate_x",
            "rate_x",
        ),
        ({"type": "input_audio_buffer.append", "audio": "AAAA", "payload": "x"}, "payload", "payload"),
        (
            {"type": "session.update", "session": {"type": "realtime", "input_audio_format": "g711_ulaw"}},
            None,
            "input_audio_format",
        ),
        ({"type": "response.cancel", "extra": {"deep": 1}}, "extra", "extra"),
        (
            {"type": "conversation.item.truncate", "item_id": "x", "content_index": 0},
            "audio_end_ms",
            "audio_end_ms",
        ),
        ({"type": "media", "media": {}}, "type", "'media'"),
    ],
)
async def test_invalid_or_unknown_fields_get_an_error(
    standin: RealtimeStandIn, client: Client, event: dict[str, Any], param: str | None, named: str
) -> None:
    await client.send({**event, "event_id": "evt_client_1"})
    error = await client.until("error")
    SERVER_EVENT.validate_python(error)
    assert error["error"]["event_id"] == "evt_client_1"
    if param is not None:
        assert error["error"]["param"] == param
    assert named in error["error"]["message"]
    assert standin.errors == [error]
    assert standin.session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}


async def test_non_json_and_beta_header_are_errors(standin: RealtimeStandIn) -> None:
    async with connect(standin.url, additional_headers={"OpenAI-Beta": "realtime=v1"}) as ws:
        client = Client(ws)
        await client.until("session.created")
        assert "beta" in (await client.until("error"))["error"]["message"]
        await ws.send("not json")
        assert (await client.until("error"))["error"]["code"] == "invalid_json"
    assert standin.connections[0]["openai_beta"] == "realtime=v1"


# ----------------------------------------------------------------------------- a caller turn


async def test_caller_turn_gets_vad_events_and_the_bot_clip_verbatim(
    standin: RealtimeStandIn, client: Client
) -> None:
    await client.update_pcmu()
    question = load_clip("caller_question")
    await client.speak(question)
    done = await client.until("response.done")

    types = [e["type"] for e in client.events]
    order = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
    ]
    first = [types.index(t) for t in order]  # each present, first occurrences in this order
    assert first == sorted(first)
    assert types[-1] == "response.done"
    added = [e["item"]["role"] for e in client.of_type("conversation.item.added")]
    assert added == ["user", "assistant"]
    started = client.of_type("input_audio_buffer.speech_started")[0]
    stopped = client.of_type("input_audio_buffer.speech_stopped")[0]
    assert 0 <= started["audio_start_ms"] < stopped["audio_end_ms"]
    assert stopped["audio_end_ms"] >= clip_duration_ms("caller_question")
    assert client.of_type("input_audio_buffer.committed")[0]["item_id"] == started["item_id"]

    assert client.delta_bytes() == load_clip("bot_answer")
    assert standin.reply_audio == load_clip("bot_answer")
    assert standin.appended_audio == question + b"\xff" * 8000
    transcript = "".join(e["delta"] for e in client.of_type("response.output_audio_transcript.delta"))
    assert transcript == CLIP_TEXTS["bot_answer"]
    assert (
        client.of_type("response.output_audio_transcript.done")[0]["transcript"] == CLIP_TEXTS["bot_answer"]
    )
    assert done["response"]["status"] == "completed"
    item_id = client.of_type("response.output_audio.delta")[0]["item_id"]
    assert standin.produced_ms(item_id) == clip_duration_ms("bot_answer")
    # 100 ms per delta by default
    assert {
        len(base64.b64decode(e["delta"])) for e in client.of_type("response.output_audio.delta")[:-1]
    } == {800}

    assert client.events == standin.sent
    for event in client.events:  # every event is valid for the SDK and for Pipecat's own parser
        SERVER_EVENT.validate_python(event)
        parse_server_event(json.dumps(event))
    assert standin.errors == []


async def test_response_create_without_user_audio_speaks_the_greeting(client: Client) -> None:
    await client.update_pcmu()
    await client.send({"type": "response.create"})
    await client.until("response.done")
    assert client.delta_bytes() == load_clip("bot_greeting")


async def test_talking_over_a_reply_triggers_speech_started_and_cancels_it() -> None:
    async with RealtimeStandIn(speed=1.0) as standin:  # a 4 s reply: the caller talks well within it
        async for client in _client(standin):
            await client.update_pcmu()
            await client.send({"type": "response.create"})
            await client.until("response.output_audio.delta")
            await client.speak(load_clip("caller_interrupt"), silence_ms=0)
            await client.until("input_audio_buffer.speech_started")
            done = await client.until("response.done")
            assert done["response"]["status"] == "cancelled"
            assert done["response"]["status_details"]["reason"] == "turn_detected"
            assert len(client.delta_bytes()) < len(load_clip("bot_greeting"))
            assert load_clip("bot_greeting").startswith(client.delta_bytes())


# ----------------------------------------------------------------------------- truncate / cancel


async def test_truncate_beyond_produced_audio_is_an_error_within_is_truncated(
    standin: RealtimeStandIn, client: Client
) -> None:
    await client.update_pcmu()
    await client.send({"type": "response.create"})
    await client.until("response.done")
    item_id = client.of_type("response.output_audio.delta")[0]["item_id"]
    produced = clip_duration_ms("bot_greeting")

    await client.send(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": produced + 1,
        }
    )
    error = await client.until("error")
    assert error["error"]["param"] == "audio_end_ms"
    assert f"{produced}ms" in error["error"]["message"]

    await client.send(
        {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 1500}
    )
    truncated = await client.until("conversation.item.truncated")
    assert (truncated["item_id"], truncated["audio_end_ms"]) == (item_id, 1500)
    assert len(standin.errors) == 1
    assert standin.produced_ms(item_id) == produced  # what was sent stays sent

    await client.send(
        {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 1501}
    )
    error = await client.until("error")
    assert error["error"]["param"] == "audio_end_ms" and "1500ms" in error["error"]["message"]

    await client.send(
        {"type": "conversation.item.truncate", "item_id": "item_nope", "content_index": 0, "audio_end_ms": 0}
    )
    assert (await client.until("error"))["error"]["code"] == "item_not_found"


async def test_stop_returns_while_a_session_update_waits_out_its_confirm_delay() -> None:
    standin = RealtimeStandIn(session_confirm_delay=600.0)
    await standin.start()
    async for client in _client(standin):
        await client.send({"type": "session.update", "session": {"type": "realtime"}})
        await standin.wait_for("session.update")
        await asyncio.wait_for(standin.stop(), 5)
        assert not any(e["type"] == "session.updated" for e in standin.sent)


async def test_response_cancel_stops_deltas() -> None:
    async with RealtimeStandIn(speed=1.0) as standin:
        async for client in _client(standin):
            await client.update_pcmu()
            await client.send({"type": "response.create"})
            await client.until("response.output_audio.delta")
            await client.send({"type": "response.cancel"})
            done = await client.until("response.done")
            assert done["response"]["status"] == "cancelled"
            assert done["response"]["status_details"]["reason"] == "client_cancelled"
            deltas = len(client.of_type("response.output_audio.delta"))
            # a round trip after response.done: nothing more of that reply arrives in between
            await client.send({"type": "input_audio_buffer.clear"})
            await client.until("input_audio_buffer.cleared")
            assert len(client.of_type("response.output_audio.delta")) == deltas
            assert len(client.delta_bytes()) < len(load_clip("bot_greeting"))
            # nothing left to cancel: the real server's error
            await client.send({"type": "response.cancel"})
            assert (await client.until("error"))["error"]["code"] == "response_cancel_not_active"


# ----------------------------------------------------------------------------- misbehaviour


async def test_reply_format_override_confirms_and_sends_pcm() -> None:
    async with RealtimeStandIn(speed=math.inf, reply_format_override="audio/pcm") as standin:
        async for client in _client(standin):
            updated = await client.update_pcmu()
            assert updated["session"]["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
            assert updated["session"]["audio"]["input"]["format"] == PCMU
            await client.send({"type": "response.create"})
            await client.until("response.done")
            greeting = load_clip("bot_greeting")
            pcm = client.delta_bytes()
            assert len(pcm) == 6 * len(greeting)  # PCM16 at 24 kHz, not μ-law at 8 kHz
            assert pcm[:6] == g711.decode(greeting[:1]) * 3


async def test_close_mid_reply_closes_the_socket() -> None:
    async with RealtimeStandIn(speed=math.inf, close_mid_reply=True) as standin:
        async for client in _client(standin):
            await client.update_pcmu()
            await client.send({"type": "response.create"})
            with pytest.raises(ConnectionClosed) as closed:
                await client.until("response.done")
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
            assert 0 < len(client.delta_bytes()) < len(load_clip("bot_greeting"))


async def test_error_after_session() -> None:
    async with RealtimeStandIn(error_after_session=True) as standin:
        async for client in _client(standin):
            await client.update_pcmu()
            error = await client.recv()
            assert error["type"] == "error" and error["error"]["type"] == "server_error"
            assert standin.errors == [error]


async def test_session_confirm_delay_delays_session_updated() -> None:
    async with RealtimeStandIn(session_confirm_delay=0.3) as standin:
        async for client in _client(standin):
            loop = asyncio.get_running_loop()
            began = loop.time()
            await client.update_pcmu()
            assert loop.time() - began >= 0.3  # a lower bound on a sleep: cannot flake
            assert standin.errors == []


async def test_greeting_off_and_reply_clips() -> None:
    async with RealtimeStandIn(speed=math.inf, greeting=False, reply_clips=["caller_interrupt"]) as standin:
        async for client in _client(standin):
            await client.update_pcmu()
            await client.send({"type": "response.create"})
            await client.until("response.done")
            assert client.delta_bytes() == load_clip("caller_interrupt")
    with pytest.raises(ValueError, match="unknown reply clip"):
        RealtimeStandIn(reply_clips=["nope"])


async def test_wait_for_and_clean_shutdown_mid_reply() -> None:
    before = asyncio.all_tasks()
    async with RealtimeStandIn(speed=1.0) as standin:
        async with connect(standin.url) as ws:
            await ws.send(json.dumps({"type": "response.create"}))
            delta = await standin.wait_for("response.output_audio.delta")
            assert delta["type"] == "response.output_audio.delta"
            assert (await standin.wait_for(lambda e: e.get("type") == "response.create"))["type"]
            with pytest.raises(TimeoutError, match=r"response\.done"):
                await standin.wait_for("response.done", timeout=0.05)
    # stopped while a reply was streaming: no task of the stand-in is left behind
    assert asyncio.all_tasks() - before == set()


async def test_function_call_then_spoken_reply() -> None:
    async with RealtimeStandIn(speed=math.inf, function_call=("get_hours", {"day": "tomorrow"})) as standin:
        async for client in _client(standin):
            await client.update_pcmu(tools=[{"type": "function", "name": "get_hours", "parameters": {}}])
            await client.speak(load_clip("caller_question"))
            await client.until("response.done")
            done = client.of_type("response.function_call_arguments.done")[0]
            assert (done["name"], json.loads(done["arguments"])) == ("get_hours", {"day": "tomorrow"})
            assert client.of_type("response.output_audio.delta") == []
            await client.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "function_call_output",
                        "call_id": done["call_id"],
                        "output": '"9 to 6"',
                    },
                }
            )
            await client.until("conversation.item.done")
            await client.send({"type": "response.create"})
            await client.until("response.done")
            assert client.delta_bytes() == load_clip("bot_answer")
            for event in client.events:
                SERVER_EVENT.validate_python(event)
                parse_server_event(json.dumps(event))
            assert standin.errors == []


# ----------------------------------------------------------------------------- the fault switches


async def test_a_refused_url_refuses() -> None:
    with pytest.raises(ConnectionRefusedError):
        async with connect(refused_url(), open_timeout=TIMEOUT):
            pass


async def test_handshake_status_answers_the_handshake_with_it() -> None:
    async with RealtimeStandIn(faults=Faults(handshake_status=401)) as standin:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(standin.url, open_timeout=TIMEOUT):
                pass
    assert refused.value.response.status_code == 401
    assert standin.sessions == []


async def test_a_hung_handshake_times_out_and_stop_does_not_hang() -> None:
    standin = RealtimeStandIn(faults=Faults(hang_handshake=True))
    await standin.start()

    async def opening() -> None:
        async with connect(standin.url, open_timeout=30):
            pass

    pending = asyncio.create_task(opening())
    with pytest.raises(TimeoutError):
        async with connect(standin.url, open_timeout=0.3):
            pass
    async with asyncio.timeout(2):
        await standin.stop()  # with a client still waiting on its handshake
    with pytest.raises((ConnectionClosed, OSError, InvalidHandshake)):
        async with asyncio.timeout(2):
            await pending


async def test_never_confirm_merges_but_sends_no_session_updated() -> None:
    async with RealtimeStandIn(faults=Faults(never_confirm=True)) as standin:
        async for client in _client(standin):
            await client.send(
                {"type": "session.update", "session": {"type": "realtime", "instructions": "Hi"}}
            )
            with pytest.raises(TimeoutError):
                await standin.wait_for("session.updated", timeout=0.5)
            assert standin.session["instructions"] == "Hi"


async def test_a_stall_goes_quiet_mid_reply_once_and_sessions_record_each_connection() -> None:
    async with RealtimeStandIn(speed=math.inf, faults=Faults(stall_s=0.6, stall_at_reply=1)) as standin:
        async for client in _client(standin):
            await client.update_pcmu()
            await client.send({"type": "response.create"})
            await client.until("response.output_audio.delta")
            with pytest.raises(TimeoutError):
                await standin.wait_for("response.done", timeout=0.3)  # quiet, socket open
            await client.until("response.done")
        async for client in _client(standin):  # a second connection: its own record, no stall
            await client.update_pcmu()
            await client.send({"type": "conversation.item.create", "item": USER_TEXT})
            await client.send({"type": "response.create"})
            await client.until("response.done")
    first, second = standin.sessions
    assert [e["type"] for e in first.received] == ["session.update", "response.create"]
    assert [e["type"] for e in second.received_of("conversation.item.create")] == ["conversation.item.create"]
    assert any(e["type"] == "response.done" for e in second.sent)
    # a conversation that already has items gets the reply clip, not the greeting
    deltas = [e["delta"] for e in second.sent if e["type"] == "response.output_audio.delta"]
    assert b"".join(base64.b64decode(d) for d in deltas) == load_clip("bot_answer")


USER_TEXT = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Earlier turns."}]}


async def test_drop_after_s_closes_the_first_connection_only() -> None:
    async with RealtimeStandIn(faults=Faults(drop_after_s=0.2)) as standin:
        async for client in _client(standin):
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await client.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
        async for client in _client(standin):
            await client.update_pcmu()  # the second connection stays up


@pytest.mark.parametrize("noise", ["pcm16", "white", "buzz", "wav"])
async def test_reply_noise_confirms_pcmu_but_sends_noise(noise: str, tmp_path: Any) -> None:
    kind: Any = noise
    if noise == "wav":
        kind = tmp_path / "speech.wav"
        kind.write_bytes(b"RIFF" + bytes(range(256)) * 200)
    async with RealtimeStandIn(speed=math.inf, faults=Faults(reply_noise=kind)) as standin:
        async for client in _client(standin):
            updated = await client.update_pcmu()
            assert updated["session"]["audio"]["output"]["format"]["type"] == "audio/pcmu"
            await client.send({"type": "response.create"})
            await client.until("response.done")
            audio = client.delta_bytes()
    clip = load_clip("bot_greeting")
    if noise == "pcm16":
        assert audio == replies.pcm24k_from_ulaw(clip)  # 6x the bytes of the μ-law it should have been
    elif noise == "white":
        assert len(audio) == len(clip) and len(set(audio)) > 200
    elif noise == "buzz":
        assert len(audio) == len(clip) and set(audio) == {0x00, 0x80}
    else:
        assert audio.startswith(b"RIFF")
    assert standin.reply_audio == audio
