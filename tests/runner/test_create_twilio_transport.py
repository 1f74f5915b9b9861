"""create_twilio_transport() over a real websocket: Twilio's connected/start read, our serializer, trust."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import pytest
import websockets
from fastapi import FastAPI, WebSocket
from pipecat.runner.types import WebSocketRunnerArguments
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams
from twilio.request_validator import RequestValidator

from pipecat_twilio_realtime import (
    BINDING_PARAMETER,
    RECOMMENDED_OUT_10MS_CHUNKS,
    StreamBinder,
    TwilioMediaStreamSerializer,
    TwilioStreamRefused,
    create_twilio_transport,
)

from .._twilio_helpers import ACCOUNT_SID, CALL_SID, STREAM_SID, connected, serve, start

TOKEN = "test-auth-token-0123456789abcdef"
HOST = "bot.example.com"


def runner_app(results: list[Any], **kwargs: Any) -> FastAPI:
    """What Pipecat's runner does at /ws: accept, then hand WebSocketRunnerArguments to the bot."""
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        runner_args = WebSocketRunnerArguments(websocket=websocket, session_id=str(uuid.uuid4()))
        try:
            transport = await create_twilio_transport(runner_args, **kwargs)
        except TwilioStreamRefused as e:
            results.append(e)
            return
        results.append((transport, runner_args))
        await websocket.close()

    return app


async def twilio_connects(results: list[Any], headers: dict[str, str] | None = None, **custom: str) -> Any:
    async with serve(runner_app(results, **custom.pop("_kwargs", {}))) as port:  # type: ignore[arg-type]
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", additional_headers=headers or {}) as ws:
            try:  # a refused handshake may be closed before start is sent
                await ws.send(connected())
                await ws.send(start(**custom))
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as e:
                return e.rcvd.code if e.rcvd else None
    return None


async def test_start_is_read_and_the_call_data_reaches_the_bot(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    results: list[Any] = []
    params = FastAPIWebsocketParams(audio_out_10ms_chunks=4, audio_in_sample_rate=8000)
    await twilio_connects(results, _kwargs={"params": params}, lang="fr", from_number="+15550001")
    transport, runner_args = results[0]
    assert isinstance(transport.serializer, TwilioMediaStreamSerializer)
    assert transport._params.serializer is transport.serializer
    assert transport.serializer.stream_sid == STREAM_SID
    call = transport.call
    assert (call.stream_sid, call.call_sid, call.account_sid) == (STREAM_SID, CALL_SID, ACCOUNT_SID)
    assert dict(call.custom_parameters) == {"lang": "fr", "from_number": "+15550001"}
    assert call.bound is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        call.call_sid = "CAx"  # type: ignore[misc]
    # the user's setting wins, the recommended ones fill the rest
    assert transport._params.audio_out_10ms_chunks == 4 != RECOMMENDED_OUT_10MS_CHUNKS
    assert transport._params.audio_in_enabled and transport._params.audio_out_enabled
    # runner_args.call_data as Pipecat's own create_transport fills it
    assert runner_args.call_data.stream_id == STREAM_SID and runner_args.call_data["call_id"] == CALL_SID
    assert runner_args.call_data.from_number == "+15550001"
    assert runner_args.transport_type == "twilio"
    # unbound: warned once, and no REST credentials reached the serializer
    assert sum("NOT bound" in line for line in logs) == 1
    assert transport.serializer._hang_up_enabled is False


async def test_without_params_the_recommended_ones_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    results: list[Any] = []
    await twilio_connects(results)
    transport, _ = results[0]
    assert transport._params.audio_out_10ms_chunks == RECOMMENDED_OUT_10MS_CHUNKS
    assert transport._params.audio_in_enabled and transport._params.audio_out_enabled


@pytest.mark.parametrize("field", ["audio_in_sample_rate", "audio_out_sample_rate"])
async def test_a_rate_other_than_8000_is_refused_by_name(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        await create_twilio_transport(
            WebSocketRunnerArguments(websocket=None),  # type: ignore[arg-type]
            FastAPIWebsocketParams(**{field: 16000}),
        )


async def test_a_bad_signature_is_refused(logs: list[str]) -> None:
    results: list[Any] = []
    kwargs = {"auth_token": TOKEN, "public_host": HOST}
    code = await twilio_connects(results, {"X-Twilio-Signature": "forged"}, _kwargs=kwargs)
    assert code == 1008
    assert isinstance(results[0], TwilioStreamRefused) and "signature" in str(results[0])
    assert any("refused a media stream" in line for line in logs)
    assert TOKEN not in "\n".join(logs)


async def test_a_signed_and_bound_stream_may_hang_up_through_rest(logs: list[str]) -> None:
    results: list[Any] = []
    signature = RequestValidator(TOKEN).compute_signature(f"wss://{HOST}/ws", {})
    binding = StreamBinder(TOKEN).mint(CALL_SID, ACCOUNT_SID)
    kwargs = {"auth_token": TOKEN, "public_host": HOST}
    await twilio_connects(
        results, {"X-Twilio-Signature": signature}, _kwargs=kwargs, **{BINDING_PARAMETER: binding}
    )
    transport, _ = results[0]
    assert transport.call.bound is True
    assert transport.serializer._hang_up_enabled is True
    assert not any("NOT bound" in line for line in logs)


async def test_a_forged_binding_is_refused() -> None:
    results: list[Any] = []
    signature = RequestValidator(TOKEN).compute_signature(f"wss://{HOST}/ws", {})
    forged = StreamBinder("another-secret-0123456789").mint(CALL_SID, ACCOUNT_SID)
    kwargs = {"auth_token": TOKEN, "public_host": HOST}
    code = await twilio_connects(
        results, {"X-Twilio-Signature": signature}, _kwargs=kwargs, **{BINDING_PARAMETER: forged}
    )
    assert code == 1008
    assert isinstance(results[0], TwilioStreamRefused) and "tampered" in str(results[0])


async def test_signed_but_unbound_warns_once_and_gets_no_rest(logs: list[str]) -> None:
    results: list[Any] = []
    signature = RequestValidator(TOKEN).compute_signature(f"wss://{HOST}/ws", {})
    await twilio_connects(
        results, {"X-Twilio-Signature": signature}, _kwargs={"auth_token": TOKEN, "public_host": HOST}
    )
    transport, _ = results[0]
    assert transport.call.bound is False
    assert transport.serializer._hang_up_enabled is False
    assert sum("NOT bound" in line for line in logs) == 1


async def test_reply_audio_is_sent_ahead_by_default_and_the_lead_can_be_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipecat_twilio_realtime import DEFAULT_SEND_AHEAD_MS, SendAheadOutputTransport

    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    results: list[Any] = []
    await twilio_connects(results)
    output = results[0][0].output()
    assert isinstance(output, SendAheadOutputTransport)
    assert output.send_ahead_ms == DEFAULT_SEND_AHEAD_MS
