"""TwilioMediaStreamSerializer: unit behaviour, a real transport end to end, hang-up via the twilio SDK."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from fastapi import FastAPI, WebSocket
from pipecat.frames.frames import (
    EndWorkerFrame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
)
from websockets.asyncio.client import connect

from pipecat_twilio_realtime import (
    TwilioMarkEchoFrame,
    TwilioMarkRequestFrame,
    TwilioMediaStreamSerializer,
    TwilioStopFrame,
    g711,
)

from .. import _twilio_helpers as tw
from .._twilio_helpers import Loopback
from ._serializer_harness import pcm_frame, pipeline_setup, started

RATE_HINT = "PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000)"


@pytest.mark.parametrize(("rate_in", "rate_out"), [(16000, 8000), (8000, 24000), (24000, 24000)])
async def test_setup_refuses_any_rate_but_8000(rate_in: int, rate_out: int) -> None:
    serializer = TwilioMediaStreamSerializer()
    with pytest.raises(ValueError) as info:
        await serializer.setup(pipeline_setup(rate_in, rate_out))
    assert RATE_HINT in str(info.value)
    assert str(rate_in if rate_in != 8000 else rate_out) in str(info.value)


def test_partial_hang_up_credentials_are_named() -> None:
    with pytest.raises(ValueError, match="missing: account_sid, auth_token"):
        TwilioMediaStreamSerializer(call_sid=tw.CALL_SID)
    with pytest.raises(ValueError, match="missing: call_sid"):
        TwilioMediaStreamSerializer(account_sid=tw.ACCOUNT_SID, auth_token="secret")
    with pytest.raises(ValueError, match=r"missing: account_sid$"):
        TwilioMediaStreamSerializer(call_sid=tw.CALL_SID, twilio_client=object())
    TwilioMediaStreamSerializer()  # no credentials at all: no hang-up, no error
    TwilioMediaStreamSerializer(
        call_sid=tw.CALL_SID, params=TwilioMediaStreamSerializer.InputParams(auto_hang_up=False)
    )  # hang-up off: a lone call SID is fine


async def test_audio_becomes_an_exact_media_message() -> None:
    serializer = await started()
    ulaw = bytes(range(256))
    message = json.loads(await serializer.serialize(pcm_frame(ulaw)))
    assert set(message) == {"event", "streamSid", "media"} and set(message["media"]) == {"payload"}
    assert message["event"] == "media" and message["streamSid"] == tw.STREAM_SID
    assert base64.b64decode(message["media"]["payload"]) == ulaw.replace(b"\x7f", b"\xff")
    assert (serializer.stats.media_sent, serializer.stats.ulaw_bytes_sent) == (1, 256)


async def test_wrong_rate_frame_is_dropped_and_counted(logs: list[str]) -> None:
    serializer = await started()
    assert await serializer.serialize(pcm_frame(b"\x00" * 160, rate=24000)) is None
    assert serializer.stats.outbound_dropped == 1 and serializer.stats.media_sent == 0
    assert any("24000 Hz" in line and RATE_HINT in line for line in logs)


async def test_audio_before_start_is_dropped() -> None:
    serializer = TwilioMediaStreamSerializer()
    await serializer.setup(pipeline_setup())
    assert await serializer.serialize(pcm_frame(b"\x10" * 160)) is None
    assert serializer.stats.outbound_dropped == 1
    await serializer.deserialize(tw.start())
    assert await serializer.serialize(pcm_frame(b"\x10" * 160)) is not None


async def test_interruption_becomes_clear() -> None:
    serializer = await started()
    assert json.loads(await serializer.serialize(InterruptionFrame())) == {
        "event": "clear",
        "streamSid": tw.STREAM_SID,
    }
    assert serializer.stats.clears_sent == 1


async def test_mark_request_echo_maps_back_to_bytes_sent() -> None:
    serializer = await started()
    await serializer.serialize(pcm_frame(b"\x20" * 160))
    await serializer.serialize(pcm_frame(b"\x20" * 160))
    mark = json.loads(await serializer.serialize(TwilioMarkRequestFrame(label="reply")))
    assert set(mark) == {"event", "streamSid", "mark"} and set(mark["mark"]) == {"name"}
    echo = await serializer.deserialize(tw.mark(5, mark["mark"]["name"]))
    assert isinstance(echo, TwilioMarkEchoFrame)
    assert (echo.label, echo.ulaw_bytes_sent, echo.played) == ("reply", 320, True)
    assert (serializer.stats.marks_sent, serializer.stats.marks_played) == (1, 1)


async def test_marks_pending_at_a_clear_come_back_flushed() -> None:
    serializer = await started()
    await serializer.serialize(pcm_frame(b"\x20" * 160))
    first = json.loads(await serializer.serialize(TwilioMarkRequestFrame(label="a")))["mark"]["name"]
    await serializer.serialize(pcm_frame(b"\x20" * 160))
    second = json.loads(await serializer.serialize(TwilioMarkRequestFrame(label="b")))["mark"]["name"]
    played = await serializer.deserialize(tw.mark(3, first))
    await serializer.serialize(InterruptionFrame())
    flushed = await serializer.deserialize(tw.mark(4, second))
    assert isinstance(played, TwilioMarkEchoFrame) and played.played
    assert isinstance(flushed, TwilioMarkEchoFrame) and not flushed.played and flushed.ulaw_bytes_sent == 320
    after = json.loads(await serializer.serialize(TwilioMarkRequestFrame(label="c")))["mark"]["name"]
    again = await serializer.deserialize(tw.mark(5, after))
    assert isinstance(again, TwilioMarkEchoFrame) and again.played
    assert (serializer.stats.marks_played, serializer.stats.marks_flushed) == (2, 1)


async def test_plain_transport_mark_message_is_honoured_and_others_dropped(logs: list[str]) -> None:
    serializer = await started()
    mark = await serializer.serialize(
        OutputTransportMessageFrame(message={"event": "mark", "mark": {"name": "x"}})
    )
    assert json.loads(mark)["mark"]["name"].startswith("x:")
    assert (
        await serializer.serialize(OutputTransportMessageFrame(message={"event": "hello", "type": "x"}))
        is None
    )
    assert serializer.stats.outbound_dropped == 1
    assert any("'hello'" in line and "31951" in line for line in logs)


async def test_media_becomes_pcm16_at_8000() -> None:
    serializer = await started()
    frame = await serializer.deserialize(tw.media(2, b"\x00\x80\xff"))
    assert isinstance(frame, InputAudioRawFrame)
    assert (frame.sample_rate, frame.num_channels) == (8000, 1)
    assert frame.audio == g711.decode(b"\x00\x80\xff")
    assert (serializer.stats.media_received, serializer.stats.ulaw_bytes_received) == (1, 3)


async def test_dtmf_stop_and_start_details() -> None:
    serializer = TwilioMediaStreamSerializer()
    await serializer.deserialize(tw.start(who="ana"))
    assert serializer.stream_sid == tw.STREAM_SID and serializer.custom_parameters == {"who": "ana"}
    dtmf = await serializer.deserialize(tw.dtmf(2, "7"))
    assert isinstance(dtmf, InputDTMFFrame) and dtmf.button.value == "7"
    stop = await serializer.deserialize(tw.stop(3))
    assert (
        isinstance(stop, TwilioStopFrame)
        and isinstance(stop, EndWorkerFrame)
        and stop.call_sid == tw.CALL_SID
    )
    assert await serializer.serialize(pcm_frame(b"\x00" * 160)) is None  # nothing goes out after stop


async def test_malformed_input_is_logged_once_dropped_and_the_call_goes_on(logs: list[str]) -> None:
    serializer = await started()
    bad = [
        "{oops",
        '{"event": "bogus"}',
        tw.media(2, b"x").replace('"payload": "eA=="', '"payload": "%%"'),
        "{oops",
    ]
    for message in bad:
        assert await serializer.deserialize(message) is None
    assert serializer.stats.malformed_dropped == 4
    warnings = [line for line in logs if "WARNING" in line]
    assert sum("not valid JSON" in line for line in warnings) == 1  # once per kind at warning level
    assert any("'bogus'" in line for line in warnings) and any("base64" in line for line in warnings)
    assert isinstance(await serializer.deserialize(tw.media(3, b"\x01" * 160)), InputAudioRawFrame)


async def test_sequence_gaps_are_counted() -> None:
    serializer = await started()
    for seq in (2, 3, 7, 7):
        await serializer.deserialize(tw.media(seq, b"\x01"))
    assert (serializer.stats.sequence_gaps, serializer.stats.sequence_missing) == (1, 3)
    assert serializer.stats.sequence_out_of_order == 1


async def test_every_code_in_through_a_frame_and_out_again_is_bit_exact() -> None:
    serializer = await started()
    every = bytes(range(256))
    inbound = await serializer.deserialize(tw.media(2, every))
    assert isinstance(inbound, InputAudioRawFrame)
    out = OutputAudioRawFrame(audio=inbound.audio, sample_rate=inbound.sample_rate, num_channels=1)
    message = json.loads(await serializer.serialize(out))
    assert base64.b64decode(message["media"]["payload"]) == every.replace(b"\x7f", b"\xff")


async def test_urgent_transport_message_that_is_not_twilio_is_dropped_not_sent() -> None:
    serializer = await started()
    assert await serializer.serialize(OutputTransportMessageUrgentFrame(message={"type": "hello"})) is None
    assert await serializer.serialize(OutputTransportMessageFrame(message="just text")) is None
    assert await serializer.serialize(OutputTransportMessageFrame(message=["event", "mark"])) is None
    assert serializer.stats.outbound_dropped == 3 and serializer.stats.marks_sent == 0
    rtvi = OutputTransportMessageFrame(message={"label": "rtvi-ai", "type": "bot-ready"})
    assert await serializer.serialize(rtvi) is None
    # Pipecat's own RTVI filter still applies: an RTVI message is ignored quietly, not counted or
    # warned about as a stray non-Twilio message (which is what the generic drop above does).
    assert serializer.stats.outbound_dropped == 3


async def test_transport_clear_message_becomes_a_clear() -> None:
    serializer = await started()
    clear = await serializer.serialize(OutputTransportMessageFrame(message={"event": "clear"}))
    assert clear == f'{{"event": "clear", "streamSid": "{tw.STREAM_SID}"}}'
    assert serializer.stats.clears_sent == 1


async def test_dtmf_keys_twilio_sends_but_pipecat_has_no_key_for_are_counted_not_pushed() -> None:
    serializer = await started()
    assert await serializer.deserialize(tw.dtmf(2, "A")) is None
    pushed = await serializer.deserialize(tw.dtmf(3, "#"))
    assert isinstance(pushed, InputDTMFFrame) and pushed.button.value == "#"
    assert serializer.stats.dtmf_received == 2


async def test_a_mark_echo_this_serializer_did_not_send_still_reaches_the_pipeline() -> None:
    serializer = await started()
    echo = await serializer.deserialize(tw.mark(2, "someone-else"))
    assert isinstance(echo, TwilioMarkEchoFrame)
    assert (echo.mark_name, echo.ulaw_bytes_sent) == ("someone-else", None)


class Call:
    """What the bot side of one loopback call saw."""

    def __init__(self) -> None:
        self.serializer = TwilioMediaStreamSerializer()
        self.ended = asyncio.Event()
        self.error: BaseException | None = None


def loopback_app(calls: list[Call]) -> FastAPI:
    """A FastAPI app whose /ws runs input → Loopback → output at 8 kHz, ended only by the pipeline itself.

    No ``on_client_disconnected`` handler cancels it: if Twilio's ``stop`` did not end the
    pipeline, the test would time out instead of passing.
    """
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        call = Call()
        calls.append(call)
        try:
            await tw.run_call_pipeline(websocket, call.serializer, [Loopback()], cancel_on_disconnect=False)
        except BaseException as e:  # recorded for the test, then re-raised
            call.error = e
            raise
        finally:
            call.ended.set()

    return app


async def test_real_transport_echoes_every_code_exactly_with_exact_keys_and_stop_ends_it() -> None:
    calls: list[Call] = []
    sent = bytes(range(256)) * 5  # every μ-law code, 8 Twilio frames of 160 bytes
    outbound: list[dict[str, Any]] = []
    async with tw.serve(loopback_app(calls)) as port, connect(f"ws://127.0.0.1:{port}/ws") as twilio:
        await twilio.send(tw.connected())
        await twilio.send(tw.start())
        for i in range(0, len(sent), 160):
            await twilio.send(tw.media(2 + i // 160, sent[i : i + 160], chunk=1 + i // 160))
        heard = b""
        async with asyncio.timeout(10):
            while len(heard) < len(sent):
                message = json.loads(await twilio.recv())
                outbound.append(message)
                heard += base64.b64decode(message["media"]["payload"], validate=True)
        assert heard == sent.replace(b"\x7f", b"\xff")

        await twilio.send(tw.stop(2 + len(sent) // 160))
        async with asyncio.timeout(10):  # the pipeline ends and the bot closes the socket
            async for raw in twilio:
                outbound.append(json.loads(raw))
            await calls[0].ended.wait()

    assert calls[0].error is None
    for message in outbound:
        assert set(message) == {"event", "streamSid", "media"}, message
        assert set(message["media"]) == {"payload"} and message["event"] == "media"
        assert message["streamSid"] == tw.STREAM_SID
    assert all(len(base64.b64decode(m["media"]["payload"])) == 160 for m in outbound)  # 20 ms each
    stats = calls[0].serializer.stats
    assert (stats.ulaw_bytes_sent, stats.ulaw_bytes_received) == (len(sent), len(sent))
    assert (stats.malformed_dropped, stats.sequence_gaps) == (0, 0)
