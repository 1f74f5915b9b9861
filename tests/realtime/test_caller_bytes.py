"""No caller audio lost at hang-up: what is buffered when the call stops reaches OpenAI, or is counted.

Two buffers hold caller audio: the serializer's partial ``inbound_frame_ms`` batch (handed on at Twilio's
``stop`` as ``TwilioStopFrame.tail_audio``) and the service's partial ``append_interval_ms`` batch. Both
must end up in a last ``input_audio_buffer.append`` before the session closes.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from pipecat.frames.frames import InputAudioRawFrame
from websockets.protocol import State

from pipecat_twilio_realtime import OpenAIRealtimeMuLawLLMService, TwilioMediaStreamSerializer, g711
from pipecat_twilio_realtime.testing import RealtimeStandIn, Silence, SimulatedTwilioCaller
from pipecat_twilio_realtime.twilio.frames import TwilioStopFrame

from .._bot_helpers import BotCall, bot_app
from .._twilio_helpers import serve


class FakeSocket:
    """The OpenAI websocket as the service writes to it."""

    def __init__(self) -> None:
        self.state = State.OPEN
        self.sent: list[dict[str, Any]] = []

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    def appended(self) -> bytes:
        return b"".join(
            base64.b64decode(m["audio"]) for m in self.sent if m["type"] == "input_audio_buffer.append"
        )


def pcm(ulaw: bytes) -> bytes:
    return g711.decode(ulaw)


def confirmed_service(socket: FakeSocket) -> OpenAIRealtimeMuLawLLMService:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test", append_interval_ms=100)
    service._websocket = socket  # type: ignore[assignment]
    service._format_confirmed = True
    return service


SID = "MZ" + "0" * 32
CALL_SID = "CA" + "0" * 32


# ----------------------------------------------------------------------------- the hooks


async def test_serializer_hands_its_partial_batch_on_at_stop() -> None:
    serializer = TwilioMediaStreamSerializer(
        params=TwilioMediaStreamSerializer.InputParams(inbound_frame_ms=40)
    )
    start = {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": SID,
        "start": {
            "streamSid": SID,
            "callSid": CALL_SID,
            "accountSid": "AC" + "0" * 32,
            "tracks": ["inbound"],
        },
    }
    await serializer.deserialize(json.dumps(start))
    audio = bytes(range(160))
    media = {"event": "media", "sequenceNumber": "2", "streamSid": SID, "media": {"payload": ""}}
    media["media"] = {"track": "inbound", "chunk": "1", "timestamp": "0"}
    media["media"]["payload"] = base64.b64encode(audio).decode()
    assert await serializer.deserialize(json.dumps(media)) is None  # held: half a 40 ms frame
    stop = {"event": "stop", "sequenceNumber": "3", "streamSid": SID, "stop": {"callSid": CALL_SID}}
    frame = await serializer.deserialize(json.dumps(stop))
    assert isinstance(frame, TwilioStopFrame)
    assert g711.encode(frame.tail_audio) == g711.encode(pcm(audio))
    assert serializer.stats.stop_tail_bytes == 160


async def test_held_audio_is_the_last_append_at_the_end() -> None:
    socket = FakeSocket()
    service = confirmed_service(socket)
    first = bytes([0x10]) * 640
    await service._send_user_audio(InputAudioRawFrame(audio=pcm(first), sample_rate=8000, num_channels=1))
    assert socket.appended() == b""  # under append_interval_ms: held
    tail = bytes([0x20]) * 160
    service._hold_stop_tail(pcm(tail))
    await service._flush_input_at_end()
    assert socket.appended() == g711.encode(pcm(first)) + g711.encode(pcm(tail))
    assert service.stats.dropped_at_end_bytes == 0
    await service._flush_input_at_end()  # once only
    assert len(socket.appended()) == 800


async def test_held_audio_is_counted_as_dropped_when_the_socket_is_closed(logs: list[str]) -> None:
    socket = FakeSocket()
    service = confirmed_service(socket)
    await service._send_user_audio(
        InputAudioRawFrame(audio=pcm(bytes([0x10]) * 320), sample_rate=8000, num_channels=1)
    )
    service._hold_stop_tail(pcm(bytes([0x20]) * 160))
    socket.state = State.CLOSED
    await service._flush_input_at_end()
    assert socket.appended() == b""
    assert service.stats.dropped_at_end_bytes == 480
    assert service.stats.dropped_at_end_reason == "the connection is closed"
    assert [line for line in logs if "480 B of the caller's last audio" in line and "closed" in line]


async def test_held_audio_before_confirmation_is_counted_as_dropped() -> None:
    socket = FakeSocket()
    service = confirmed_service(socket)
    service._format_confirmed = False
    await service._send_user_audio(
        InputAudioRawFrame(audio=pcm(bytes([0x10]) * 320), sample_rate=8000, num_channels=1)
    )
    await service._flush_input_at_end()
    assert service.stats.dropped_at_end_bytes == 320
    assert service.stats.dropped_at_end_reason == "the session never confirmed audio/pcmu"


# ----------------------------------------------------------------------------- end to end

# 69 frames of 20 ms: 34 serializer frames of 40 ms + a 20 ms tail; 34 = 11 appends of 3 + 1 held.
CALL = [Silence(1.38)]
SENT_PER_CALL = 69 * 160


@pytest.mark.parametrize("concurrent", [1, 8, 24])
async def test_no_caller_byte_lost_at_hang_up(concurrent: int) -> None:
    calls: list[BotCall] = []
    async with RealtimeStandIn(greeting=False) as standin:
        app = bot_app(
            standin.url,
            calls,
            greet=False,
            service_kwargs={"append_interval_ms": 100},
            serializer_kwargs={"params": TwilioMediaStreamSerializer.InputParams(inbound_frame_ms=40)},
        )
        async with serve(app) as port:
            callers = [SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", CALL) for _ in range(concurrent)]
            reports = await asyncio.wait_for(asyncio.gather(*(c.run() for c in callers)), 60)
            for _ in range(100):  # the pipelines end just after the callers hang up
                if sum(c.service.stats.appends for c in calls) and all(c.service._closing for c in calls):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
    sent = sum(r.ulaw_bytes_sent for r in reports)
    assert sent == concurrent * SENT_PER_CALL
    assert sum(c.serializer.stats.stop_tail_bytes for c in calls) == concurrent * 160  # the tail was real
    assert len(standin.appended_audio) == sent, f"{sent - len(standin.appended_audio)} B lost"
    assert sum(c.service.stats.dropped_at_end_bytes for c in calls) == 0
    assert all(c.service.stats.appended_bytes == SENT_PER_CALL for c in calls)
