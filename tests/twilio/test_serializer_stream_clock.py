"""Mark echoes carry Twilio's stream clock: the timestamp of the latest caller media before them."""

from __future__ import annotations

import json

from pipecat.frames.frames import InterruptionFrame, OutputTransportMessageUrgentFrame

from pipecat_twilio_realtime import TwilioMarkEchoFrame, TwilioMarkRequestFrame

from .. import _twilio_helpers as tw
from ._serializer_harness import pcm_frame, started


async def test_an_echo_carries_the_latest_media_timestamp_and_none_before_any() -> None:
    serializer = await started()
    names = [
        json.loads(await serializer.serialize(TwilioMarkRequestFrame(label=label)))["mark"]["name"]
        for label in ("a", "b", "c")
    ]
    before = await serializer.deserialize(tw.mark(3, names[0]))
    assert isinstance(before, TwilioMarkEchoFrame) and before.stream_ms is None
    await serializer.deserialize(tw.media(4, b"\xff" * 160, chunk=1))
    await serializer.deserialize(tw.media(5, b"\xff" * 160, chunk=7))  # timestamp 120 ms
    second = await serializer.deserialize(tw.mark(6, names[1]))
    assert isinstance(second, TwilioMarkEchoFrame) and second.stream_ms == 120
    untimed = json.loads(tw.media(7, b"\xff" * 160, chunk=8))
    del untimed["media"]["timestamp"]  # a chunk without one keeps the clock where it was
    await serializer.deserialize(json.dumps(untimed))
    third = await serializer.deserialize(tw.mark(8, names[2]))
    assert isinstance(third, TwilioMarkEchoFrame) and third.stream_ms == 120


async def test_an_urgent_mark_before_the_clear_comes_back_flushed_with_the_clocks_time() -> None:
    serializer = await started()
    await serializer.serialize(pcm_frame(b"\x20" * 160))
    urgent = OutputTransportMessageUrgentFrame(message={"event": "mark", "mark": {"name": "ptr:x/clear"}})
    mark = json.loads(await serializer.serialize(urgent))
    assert json.loads(await serializer.serialize(InterruptionFrame()))["event"] == "clear"
    await serializer.deserialize(tw.media(3, b"\xff" * 160, chunk=51))  # 1000 ms
    echo = await serializer.deserialize(tw.mark(4, mark["mark"]["name"]))
    assert isinstance(echo, TwilioMarkEchoFrame)
    assert (echo.label, echo.ulaw_bytes_sent, echo.played) == ("ptr:x/clear", 160, False)
    assert echo.stream_ms == 1000
