"""Marks and their echoes: names that carry the bytes sent, every field of a played and a flushed echo, a
``clear`` flushing every pending mark once, unknown echoes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pipecat.frames.frames import (
    InterruptionFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
)

from pipecat_twilio_realtime import (
    TwilioMarkEchoFrame,
    TwilioMarkRequestFrame,
)

from .. import _twilio_helpers as tw
from ._serializer_harness import pcm_frame, sent_mark_name, started


async def test_mark_names_are_label_index_and_bytes_sent_and_never_collide() -> None:
    serializer = await started()
    first = await sent_mark_name(serializer, TwilioMarkRequestFrame(label="reply"))
    await serializer.serialize(pcm_frame(b"\x20" * 160))
    second = await sent_mark_name(serializer, TwilioMarkRequestFrame(label="reply"))
    third = await sent_mark_name(serializer, TwilioMarkRequestFrame(label="reply"))
    assert (first, second, third) == ("reply:1:0", "reply:2:160", "reply:3:160")


async def test_every_field_of_a_played_echo() -> None:
    serializer = await started()
    await serializer.serialize(pcm_frame(b"\x20" * 160))
    name = await sent_mark_name(serializer, TwilioMarkRequestFrame(label="greeting"))
    await serializer.serialize(pcm_frame(b"\x20" * 80))
    echo = await serializer.deserialize(tw.mark(3, name))
    assert isinstance(echo, TwilioMarkEchoFrame)
    assert (echo.mark_name, echo.label, echo.ulaw_bytes_sent, echo.played) == (name, "greeting", 160, True)
    again = await serializer.deserialize(tw.mark(4, name))  # a second echo of it is unknown now
    assert isinstance(again, TwilioMarkEchoFrame)
    assert (again.mark_name, again.label, again.ulaw_bytes_sent, again.played) == (name, name, None, True)


async def test_every_field_of_a_flushed_echo_and_it_is_flushed_once() -> None:
    serializer = await started()
    await serializer.serialize(pcm_frame(b"\x20" * 160))
    name = await sent_mark_name(serializer, TwilioMarkRequestFrame(label="answer"))
    await serializer.serialize(InterruptionFrame())
    echo = await serializer.deserialize(tw.mark(3, name))
    assert isinstance(echo, TwilioMarkEchoFrame)
    assert (echo.mark_name, echo.label, echo.ulaw_bytes_sent, echo.played) == (name, "answer", 160, False)
    again = await serializer.deserialize(tw.mark(4, name))
    assert isinstance(again, TwilioMarkEchoFrame) and again.ulaw_bytes_sent is None
    assert (serializer.stats.marks_flushed, serializer.stats.marks_played) == (1, 0)


async def test_an_echo_also_completes_every_earlier_mark_but_not_later_ones() -> None:
    serializer = await started()
    a = await sent_mark_name(serializer, TwilioMarkRequestFrame(label="a"))
    b = await sent_mark_name(serializer, TwilioMarkRequestFrame(label="b"))
    c = await sent_mark_name(serializer, TwilioMarkRequestFrame(label="c"))
    assert isinstance(echo_b := await serializer.deserialize(tw.mark(2, b)), TwilioMarkEchoFrame)
    assert echo_b.played and echo_b.label == "b"
    late_a = await serializer.deserialize(tw.mark(3, a))  # done with b: no longer pending
    assert isinstance(late_a, TwilioMarkEchoFrame) and late_a.ulaw_bytes_sent is None
    await serializer.serialize(InterruptionFrame())  # only c was still pending: flushed
    echo_c = await serializer.deserialize(tw.mark(4, c))
    assert isinstance(echo_c, TwilioMarkEchoFrame) and not echo_c.played and echo_c.label == "c"
    assert (serializer.stats.marks_played, serializer.stats.marks_flushed) == (1, 1)


async def test_unknown_mark_echoes_warn_once(logs: list[str]) -> None:
    serializer = await started()
    await serializer.deserialize(tw.mark(2, "x1"))
    await serializer.deserialize(tw.mark(3, "x2"))
    warned = [line for line in logs if "WARNING" in line and "did not send" in line]
    assert len(warned) == 1 and "x1" in warned[0]


@pytest.mark.parametrize(
    ("message", "label"),
    [
        ({"event": "mark", "mark": {"name": "chapter"}}, "chapter"),
        ({"event": "mark", "mark": {"other": 1}}, "mark"),
        ({"event": "mark", "mark": "chapter"}, "mark"),
        ({"event": "mark"}, "mark"),
        ({"event": "mark", "mark": {"name": 7}}, "7"),
    ],
)
async def test_a_mark_transport_message_is_labelled_from_its_name(
    message: dict[str, Any], label: str
) -> None:
    serializer = await started()
    for frame_type in (OutputTransportMessageFrame, OutputTransportMessageUrgentFrame):
        name = await sent_mark_name(serializer, frame_type(message=message))
        assert name.rpartition(":")[0].rpartition(":")[0] == label
        echo = await serializer.deserialize(tw.mark(2, name))
        assert isinstance(echo, TwilioMarkEchoFrame) and echo.label == label


async def test_an_urgent_clear_message_becomes_a_clear_and_flushes_marks() -> None:
    serializer = await started()
    name = await sent_mark_name(serializer, TwilioMarkRequestFrame(label="x"))
    clear = await serializer.serialize(OutputTransportMessageUrgentFrame(message={"event": "clear"}))
    assert json.loads(clear) == {"event": "clear", "streamSid": tw.STREAM_SID}
    echo = await serializer.deserialize(tw.mark(2, name))
    assert isinstance(echo, TwilioMarkEchoFrame) and not echo.played


async def test_a_mark_message_is_exactly_the_documented_one() -> None:
    serializer = await started()
    message = json.loads(await serializer.serialize(TwilioMarkRequestFrame(label="x")))
    assert message == {"event": "mark", "streamSid": tw.STREAM_SID, "mark": {"name": "x:1:0"}}


async def test_a_mark_request_frame_label_wins_over_its_message() -> None:
    serializer = await started()
    frame = TwilioMarkRequestFrame(label="reply", message={"event": "mark", "mark": {"name": "other"}})
    name = await sent_mark_name(serializer, frame)
    assert name == "reply:1:0"
    echo = await serializer.deserialize(tw.mark(2, name))
    assert isinstance(echo, TwilioMarkEchoFrame) and echo.label == "reply"


async def test_every_flushed_mark_is_counted() -> None:
    serializer = await started()
    names = [await sent_mark_name(serializer, TwilioMarkRequestFrame(label=f"m{i}")) for i in range(3)]
    await serializer.serialize(InterruptionFrame())
    for seq, name in enumerate(names, start=2):
        echo = await serializer.deserialize(tw.mark(seq, name))
        assert isinstance(echo, TwilioMarkEchoFrame) and not echo.played and echo.ulaw_bytes_sent == 0
    assert (serializer.stats.marks_flushed, serializer.stats.marks_played) == (3, 0)
