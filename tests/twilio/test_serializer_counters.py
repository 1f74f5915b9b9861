"""What the serializer counts and drops: every outbound drop named and counted, nothing after ``stop``,
sequence gaps and anomalies, malformed input warned once per reason, exact PCM from ``media``.
"""

from __future__ import annotations

from typing import Any

import pytest
from pipecat.frames.frames import (
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    TextFrame,
)

from pipecat_twilio_realtime import (
    TwilioMarkRequestFrame,
    TwilioMediaStreamSerializer,
    TwilioStreamStats,
    g711,
)

from .. import _twilio_helpers as tw
from ._serializer_harness import Params, pcm_frame, sent_mark_name, started


async def test_counters_add_up_over_many_events() -> None:
    serializer = await started()
    for _ in range(3):
        await serializer.serialize(pcm_frame(b"\x20" * 160))
    names = [await sent_mark_name(serializer, TwilioMarkRequestFrame(label="m")) for _ in range(3)]
    for _ in range(2):
        await serializer.serialize(InterruptionFrame())
    for seq, digit in enumerate("123", start=2):
        await serializer.deserialize(tw.dtmf(seq, digit))
    for seq in range(5, 8):
        await serializer.deserialize(tw.media(seq, b"\x01" * 10))
    for _ in range(2):
        await serializer.deserialize("{oops")
    await serializer.serialize(OutputTransportMessageFrame(message={"event": "bogus"}))
    await serializer.serialize(OutputTransportMessageFrame(message={"event": "bogus"}))
    stats = serializer.stats.as_dict()
    assert stats["media_sent"] == 3 and stats["ulaw_bytes_sent"] == 480
    assert stats["marks_sent"] == 3 and len(set(names)) == 3
    assert stats["clears_sent"] == 2 and stats["dtmf_received"] == 3
    assert stats["media_received"] == 3 and stats["ulaw_bytes_received"] == 30
    assert stats["malformed_dropped"] == 2 and stats["outbound_dropped"] == 2


async def test_outbound_drops_are_counted_every_time_and_warned_once(logs: list[str]) -> None:
    serializer = TwilioMediaStreamSerializer()
    for _ in range(3):
        assert await serializer.serialize(pcm_frame(b"\x10" * 160)) is None
        assert await serializer.serialize(InterruptionFrame()) is None
        assert await serializer.serialize(TwilioMarkRequestFrame(label="x")) is None
    assert serializer.stats.outbound_dropped == 9
    assert serializer.stats.clears_sent == serializer.stats.marks_sent == 0
    warnings = [line for line in logs if "WARNING" in line]
    assert len(warnings) == 1 and "no streamSid" in warnings[0] and "audio" in warnings[0]
    assert sum("DEBUG" in line and "no streamSid" in line for line in logs) == 8


async def test_wrong_rate_and_stereo_are_dropped_every_time() -> None:
    serializer = await started()
    stereo = OutputAudioRawFrame(audio=b"\x00\x00" * 320, sample_rate=8000, num_channels=2)
    for frame in (pcm_frame(b"\x00" * 160, rate=16000), stereo, stereo):
        assert await serializer.serialize(frame) is None
    assert serializer.stats.outbound_dropped == 3 and serializer.stats.media_sent == 0


async def test_empty_audio_sends_nothing_and_counts_nothing() -> None:
    serializer = await started()
    empty = OutputAudioRawFrame(audio=b"", sample_rate=8000, num_channels=1)
    assert await serializer.serialize(empty) is None
    assert serializer.stats == TwilioStreamStats()


async def test_odd_length_pcm_is_dropped_and_counted(logs: list[str]) -> None:
    serializer = await started()
    odd = OutputAudioRawFrame(audio=b"\x00\x01\x02", sample_rate=8000, num_channels=1)
    assert await serializer.serialize(odd) is None
    assert await serializer.serialize(odd) is None
    assert serializer.stats.outbound_dropped == 2 and serializer.stats.media_sent == 0
    assert sum("WARNING" in line and "dropped outbound audio" in line for line in logs) == 1


async def test_nothing_goes_out_after_stop_and_it_is_counted(logs: list[str]) -> None:
    serializer = await started()
    await serializer.deserialize(tw.stop(2))
    assert await serializer.serialize(pcm_frame(b"\x00" * 160)) is None
    assert await serializer.serialize(InterruptionFrame()) is None
    assert await serializer.serialize(TwilioMarkRequestFrame(label="x")) is None
    assert serializer.stats.outbound_dropped == 3
    assert not any("no streamSid" in line for line in logs)


async def test_rtvi_messages_pass_when_the_filter_is_off() -> None:
    serializer = await started(params=Params(ignore_rtvi_messages=False))
    rtvi = {"label": "rtvi-ai", "type": "bot-ready", "event": "mark"}
    assert await serializer.serialize(OutputTransportMessageFrame(message=rtvi)) is not None
    filtered = await started()
    assert await filtered.serialize(OutputTransportMessageFrame(message=rtvi)) is None
    assert filtered.stats.outbound_dropped == 0 and filtered.stats.marks_sent == 0


async def test_a_dropped_transport_message_names_its_event_once(logs: list[str]) -> None:
    serializer = await started()
    await serializer.serialize(OutputTransportMessageFrame(message={"event": "start"}))
    await serializer.serialize(OutputTransportMessageFrame(message={"event": "stop"}))
    warned = [line for line in logs if "WARNING" in line and "31951" in line]
    assert len(warned) == 1 and "'start'" in warned[0]
    assert any("DEBUG" in line and "'stop'" in line for line in logs)


async def test_frames_with_no_twilio_message_send_nothing() -> None:
    serializer = await started()
    assert await serializer.serialize(TextFrame(text="hello")) is None
    assert serializer.stats == TwilioStreamStats()


async def test_a_single_lost_packet_is_a_gap_of_one() -> None:
    serializer = await started()
    await serializer.deserialize(tw.media(2, b"\x01"))
    await serializer.deserialize(tw.media(4, b"\x01"))
    assert (serializer.stats.sequence_gaps, serializer.stats.sequence_missing) == (1, 1)
    await serializer.deserialize(tw.media(7, b"\x01"))
    assert (serializer.stats.sequence_gaps, serializer.stats.sequence_missing) == (2, 3)
    await serializer.deserialize(tw.media(3, b"\x01"))
    await serializer.deserialize(tw.media(3, b"\x01"))
    assert serializer.stats.sequence_out_of_order == 2


async def test_sequence_numbers_count_across_every_event_type() -> None:
    serializer = await started()  # start was 1
    await serializer.deserialize(tw.dtmf(3, "1"))
    await serializer.deserialize(tw.mark(5, "x"))
    await serializer.deserialize(tw.stop(6))
    assert (serializer.stats.sequence_gaps, serializer.stats.sequence_missing) == (2, 2)


async def test_connected_is_not_sequenced() -> None:
    serializer = TwilioMediaStreamSerializer()
    assert await serializer.deserialize(tw.connected()) is None
    await serializer.deserialize(tw.start())
    assert serializer.stats == TwilioStreamStats()


async def test_malformed_input_warns_once_per_reason(logs: list[str]) -> None:
    serializer = await started()
    for message in ("{oops", '{"event": "bogus"}', "{oops", '{"event": "bogus"}'):
        assert await serializer.deserialize(message) is None
    warned = [line for line in logs if "WARNING" in line and "dropped a Twilio message" in line]
    assert len(warned) == 2
    assert any("DEBUG" in line and "dropped message starts '{oops'" in line for line in logs)


async def test_stop_is_logged_and_carries_the_call_sid(logs: list[str]) -> None:
    serializer = await started()
    stop = await serializer.deserialize(tw.stop(2))
    assert stop is not None and stop.call_sid == tw.CALL_SID and stop.reason == "twilio stop"
    assert any("INFO" in line and tw.STREAM_SID in line and "stopped" in line for line in logs)


async def test_media_decodes_to_the_exact_pcm() -> None:
    serializer = await started()
    frame = await serializer.deserialize(tw.media(2, bytes(range(256))))
    assert isinstance(frame, InputAudioRawFrame)
    assert frame.audio == g711.decode(bytes(range(256)))
    assert (frame.sample_rate, frame.num_channels) == (8000, 1)


@pytest.mark.parametrize(
    ("frame", "what"),
    [
        (pcm_frame(b"\x00" * 160), "audio"),
        (InterruptionFrame(), "clear"),
        (TwilioMarkRequestFrame(label="x"), "mark"),
    ],
)
async def test_a_drop_before_start_names_what_was_dropped(frame: Any, what: str, logs: list[str]) -> None:
    serializer = TwilioMediaStreamSerializer()
    assert await serializer.serialize(frame) is None
    assert any("WARNING" in line and f"dropped outbound {what}: no streamSid yet" in line for line in logs)


async def test_sequence_anomalies_are_logged_at_debug(logs: list[str]) -> None:
    serializer = await started()
    await serializer.deserialize(tw.media(4, b"\x01"))
    await serializer.deserialize(tw.media(3, b"\x01"))
    assert any("DEBUG" in line and "sequenceNumber skipped 2 before 4" in line for line in logs)
    assert any("DEBUG" in line and "sequenceNumber 3 is a duplicate or out of order" in line for line in logs)
