"""Hostile and broken Twilio input: only the documented error escapes, and a live call survives it all."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from typing import Any

from fastapi import FastAPI, WebSocket
from hypothesis import given, settings
from hypothesis import strategies as st
from pipecat.frames.frames import Frame
from websockets.asyncio.client import connect

from pipecat_twilio_realtime import MediaStatsObserver, TwilioMediaStreamSerializer

from .. import _twilio_helpers as tw
from .._twilio_helpers import Loopback


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300),
        st.builds(
            lambda payload, seq: tw.media(seq, b"").replace(
                '"payload": ""', f'"payload": {json.dumps(payload)}'
            ),
            st.text(max_size=40),
            st.integers(min_value=0, max_value=10**6),
        ),
    )
)
async def test_serializer_never_raises_on_arbitrary_input(data: str | bytes) -> None:
    serializer = TwilioMediaStreamSerializer(stream_sid=tw.STREAM_SID)
    result = await serializer.deserialize(data)
    assert result is None or isinstance(result, Frame)
    assert serializer.stats.malformed_dropped + serializer.stats.media_received <= 1


def observed_loopback_app(
    done: list[dict[str, Any]], serializers: list[TwilioMediaStreamSerializer]
) -> FastAPI:
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        serializer = TwilioMediaStreamSerializer()
        serializers.append(serializer)
        observer = MediaStatsObserver(serializer=serializer)

        @observer.event_handler("on_call_summary")
        async def summary(_observer: Any, data: dict[str, Any]) -> None:
            done.append(data)

        await tw.run_call_pipeline(websocket, serializer, [Loopback()], observers=[observer])

    return app


async def test_a_call_survives_hostile_input_and_still_ends_cleanly(logs: list[str]) -> None:
    done: list[dict[str, Any]] = []
    serializers: list[TwilioMediaStreamSerializer] = []
    good = bytes(range(0x80, 0xFF)) + b"\x01" * 33  # 160 bytes
    hostile: list[str | bytes] = [
        "{not json",
        b"\x00\xff\xfe binary frame",
        '{"event": "dance", "streamSid": "MZ"}',
        tw.media(3, b"x").replace('"eA=="', '"!!notbase64!!"'),
        tw.media(4, b"").replace('"payload": ""', '"payload": 42'),
        json.dumps({"event": "media", "streamSid": tw.STREAM_SID, "media": {"payload": "A" * 100_000}}),
        tw.media(2, good),  # a duplicate / out-of-order sequence number: still audio, counted
        "[]",
    ]
    async with (
        tw.serve(observed_loopback_app(done, serializers)) as port,
        connect(f"ws://127.0.0.1:{port}/ws") as twilio,
    ):
        await twilio.send(tw.connected())
        await twilio.send(tw.start())
        await twilio.send(tw.media(2, good))
        for message in hostile:
            await twilio.send(message)
        await twilio.send(tw.media(9, b"\x42\x43\x44"))  # an odd payload size is still whole μ-law samples
        await twilio.send(tw.media(10, good))
        heard = b""
        async with asyncio.timeout(10):
            while len(heard) < 3 * 160:  # the last 3 bytes wait in the transport for a full 20 ms chunk
                message = json.loads(await twilio.recv())
                assert set(message) == {"event", "streamSid", "media"}
                heard += base64.b64decode(message["media"]["payload"])
        await twilio.send(tw.stop(11))
        async with asyncio.timeout(10):
            async for _ in twilio:
                pass
        async with asyncio.timeout(10):
            while not done:
                await asyncio.sleep(0.02)
    stats = serializers[0].stats
    assert stats.malformed_dropped == 7  # all hostile messages but the duplicate
    assert stats.sequence_out_of_order == 1 and stats.sequence_gaps >= 1
    assert heard == good + good + b"\x42\x43\x44" + good[:157]  # audio around the garbage is exact
    assert done[0]["malformed"] == 7
    assert any("WS_STOP" in line and "malformed=7" in line for line in logs)
    for reason in (
        "not valid JSON",
        "not UTF-8",
        "unknown event 'dance'",
        "not valid base64",
        "exceeds",
        "not an object",
    ):
        assert any(reason in line for line in logs), reason


async def test_a_socket_that_just_disappears_ends_the_pipeline() -> None:
    done: list[dict[str, Any]] = []
    serializers: list[TwilioMediaStreamSerializer] = []
    before = len(asyncio.all_tasks())
    async with tw.serve(observed_loopback_app(done, serializers)) as port:
        async with connect(f"ws://127.0.0.1:{port}/ws") as twilio:
            await twilio.send(tw.connected())
            await twilio.send(tw.start())
            await twilio.send(tw.media(2, b"\x10" * 160))
            await twilio.recv()
            # pull the plug: no stop, no close frame
            raw = twilio.transport.get_extra_info("socket")
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            twilio.transport.abort()
        async with asyncio.timeout(10):
            while not done:
                await asyncio.sleep(0.02)
    assert done[0]["rx_bytes"] == 160
    await asyncio.sleep(0.1)
    leftover = [t for t in asyncio.all_tasks() if not t.done()]
    assert len(leftover) <= before, [t.get_name() for t in leftover]
