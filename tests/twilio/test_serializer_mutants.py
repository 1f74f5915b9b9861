"""TwilioMediaStreamSerializer behaviour pinned down where mutation testing found it unchecked.

Each test asserts something a caller can observe (frames, wire messages, counters, log lines, requests
to Twilio's REST API); ``scripts/mutation.py serializer`` shows which mutants they kill.
"""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    TextFrame,
)

from pipecat_twilio_realtime import (
    TwilioMarkEchoFrame,
    TwilioMarkRequestFrame,
    TwilioMediaStreamSerializer,
    TwilioStreamStats,
    g711,
    twilio_rest,
)
from pipecat_twilio_realtime.testing.serve import free_port

from .. import _twilio_helpers as tw
from .test_serializer import (
    TOKEN,
    _basic,
    _no_twilio_edge_or_region,  # noqa: F401 - autouse: keep the SDK on our loopback host
    _setup,
    _started,
    fake_twilio_rest,
    pcm_frame,
    point_twilio_clients_at,
    sdk_client,
)

Params = TwilioMediaStreamSerializer.InputParams


async def _mark(serializer: TwilioMediaStreamSerializer, frame: Any) -> str:
    message = json.loads(await serializer.serialize(frame))
    return str(message["mark"]["name"])


# ----------------------------------------------------------------------------- construction


def test_params_defaults_are_the_documented_ones() -> None:
    params = Params()
    assert params.auto_hang_up is True
    assert params.max_message_bytes == 64 * 1024
    assert (params.max_inbound_rate, params.inbound_burst_ms) == (2.0, 2000)
    assert TwilioMediaStreamSerializer().stats == TwilioStreamStats()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"max_message_bytes": 0}, "max_message_bytes"),
        ({"max_message_bytes": -1}, "max_message_bytes"),
        ({"max_inbound_rate": -0.5}, "max_inbound_rate"),
        ({"max_inbound_rate": float("nan")}, "max_inbound_rate"),
        ({"max_inbound_rate": float("inf")}, "max_inbound_rate"),
        ({"inbound_burst_ms": -1}, "inbound_burst_ms"),
    ],
)
def test_out_of_range_limits_are_refused_naming_the_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        TwilioMediaStreamSerializer(params=Params(**params))


def test_limits_at_their_edges_are_accepted() -> None:
    TwilioMediaStreamSerializer(params=Params(max_message_bytes=1, max_inbound_rate=0, inbound_burst_ms=0))


async def test_max_message_bytes_is_applied_to_inbound_messages() -> None:
    message = tw.media(2, b"\x01" * 160)
    size = len(message.encode())
    exact = await _started(params=Params(max_message_bytes=size))
    assert isinstance(await exact.deserialize(message), InputAudioRawFrame)
    small = await _started(params=Params(max_message_bytes=size - 1))
    assert await small.deserialize(message) is None
    assert small.stats.malformed_dropped == 1 and small.stats.media_received == 0


async def test_stream_sid_given_up_front_is_used_before_start() -> None:
    serializer = TwilioMediaStreamSerializer(stream_sid="MZ-given")
    assert serializer.stream_sid == "MZ-given"
    message = json.loads(await serializer.serialize(pcm_frame(b"\x00" * 160)))
    assert message["streamSid"] == "MZ-given"


async def test_a_start_for_another_stream_keeps_the_given_sid_and_warns(logs: list[str]) -> None:
    serializer = TwilioMediaStreamSerializer(stream_sid="MZ-given")
    await serializer.deserialize(tw.start())
    assert serializer.stream_sid == "MZ-given"
    assert serializer.start_event is not None and serializer.start_event.stream_sid == tw.STREAM_SID
    assert any("WARNING" in line and "MZ-given" in line and tw.STREAM_SID in line for line in logs)


async def test_a_start_for_the_same_stream_does_not_warn(logs: list[str]) -> None:
    serializer = TwilioMediaStreamSerializer(stream_sid=tw.STREAM_SID)
    await serializer.deserialize(tw.start())
    assert not any("WARNING" in line for line in logs)
    assert any("INFO" in line and tw.STREAM_SID in line and "started" in line for line in logs)


async def test_state_before_and_after_start() -> None:
    times = iter([5.0, 7.0, 9.0, 11.0])
    serializer = TwilioMediaStreamSerializer(clock=lambda: next(times))
    assert serializer.stream_sid is None and serializer.start_event is None
    assert serializer.custom_parameters == {}
    assert serializer.last_media_monotonic is None and serializer.last_activity_monotonic == 5.0
    await serializer.deserialize(tw.start(who="ana"))
    assert serializer.last_activity_monotonic == 7.0 and serializer.last_media_monotonic is None
    params = serializer.custom_parameters
    params["who"] = "changed"  # a copy: the start event is not changed through it
    assert serializer.custom_parameters == {"who": "ana"}
    await serializer.deserialize(tw.media(2, b"\x01"))
    assert serializer.last_media_monotonic == serializer.last_activity_monotonic == 9.0
    assert serializer.clock() == 11.0


async def test_setup_accepts_8000_and_unset_rates() -> None:
    serializer = TwilioMediaStreamSerializer()
    await serializer.setup(_setup(8000, 8000))
    await serializer.setup(_setup(0, 0))  # rates not set yet: nothing to check
    with pytest.raises(ValueError, match="audio_out_sample_rate=16000") as info:
        await serializer.setup(_setup(8000, 16000))
    assert "audio_in_sample_rate=8000," not in str(info.value).split("Use ")[0]


# ----------------------------------------------------------------------------- outbound


async def test_counters_add_up_over_many_events() -> None:
    serializer = await _started()
    for _ in range(3):
        await serializer.serialize(pcm_frame(b"\x20" * 160))
    names = [await _mark(serializer, TwilioMarkRequestFrame(label="m")) for _ in range(3)]
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
    serializer = await _started()
    stereo = OutputAudioRawFrame(audio=b"\x00\x00" * 320, sample_rate=8000, num_channels=2)
    for frame in (pcm_frame(b"\x00" * 160, rate=16000), stereo, stereo):
        assert await serializer.serialize(frame) is None
    assert serializer.stats.outbound_dropped == 3 and serializer.stats.media_sent == 0


async def test_empty_audio_sends_nothing_and_counts_nothing() -> None:
    serializer = await _started()
    empty = OutputAudioRawFrame(audio=b"", sample_rate=8000, num_channels=1)
    assert await serializer.serialize(empty) is None
    assert serializer.stats == TwilioStreamStats()


async def test_odd_length_pcm_is_dropped_and_counted(logs: list[str]) -> None:
    serializer = await _started()
    odd = OutputAudioRawFrame(audio=b"\x00\x01\x02", sample_rate=8000, num_channels=1)
    assert await serializer.serialize(odd) is None
    assert await serializer.serialize(odd) is None
    assert serializer.stats.outbound_dropped == 2 and serializer.stats.media_sent == 0
    assert sum("WARNING" in line and "dropped outbound audio" in line for line in logs) == 1


async def test_nothing_goes_out_after_stop_and_it_is_counted(logs: list[str]) -> None:
    serializer = await _started()
    await serializer.deserialize(tw.stop(2))
    assert await serializer.serialize(pcm_frame(b"\x00" * 160)) is None
    assert await serializer.serialize(InterruptionFrame()) is None
    assert await serializer.serialize(TwilioMarkRequestFrame(label="x")) is None
    assert serializer.stats.outbound_dropped == 3
    assert not any("no streamSid" in line for line in logs)


async def test_mark_names_are_label_index_and_bytes_sent_and_never_collide() -> None:
    serializer = await _started()
    first = await _mark(serializer, TwilioMarkRequestFrame(label="reply"))
    await serializer.serialize(pcm_frame(b"\x20" * 160))
    second = await _mark(serializer, TwilioMarkRequestFrame(label="reply"))
    third = await _mark(serializer, TwilioMarkRequestFrame(label="reply"))
    assert (first, second, third) == ("reply:1:0", "reply:2:160", "reply:3:160")


async def test_every_field_of_a_played_echo() -> None:
    serializer = await _started()
    await serializer.serialize(pcm_frame(b"\x20" * 160))
    name = await _mark(serializer, TwilioMarkRequestFrame(label="greeting"))
    await serializer.serialize(pcm_frame(b"\x20" * 80))
    echo = await serializer.deserialize(tw.mark(3, name))
    assert isinstance(echo, TwilioMarkEchoFrame)
    assert (echo.mark_name, echo.label, echo.ulaw_bytes_sent, echo.played) == (name, "greeting", 160, True)
    again = await serializer.deserialize(tw.mark(4, name))  # a second echo of it is unknown now
    assert isinstance(again, TwilioMarkEchoFrame)
    assert (again.mark_name, again.label, again.ulaw_bytes_sent, again.played) == (name, name, None, True)


async def test_every_field_of_a_flushed_echo_and_it_is_flushed_once() -> None:
    serializer = await _started()
    await serializer.serialize(pcm_frame(b"\x20" * 160))
    name = await _mark(serializer, TwilioMarkRequestFrame(label="answer"))
    await serializer.serialize(InterruptionFrame())
    echo = await serializer.deserialize(tw.mark(3, name))
    assert isinstance(echo, TwilioMarkEchoFrame)
    assert (echo.mark_name, echo.label, echo.ulaw_bytes_sent, echo.played) == (name, "answer", 160, False)
    again = await serializer.deserialize(tw.mark(4, name))
    assert isinstance(again, TwilioMarkEchoFrame) and again.ulaw_bytes_sent is None
    assert (serializer.stats.marks_flushed, serializer.stats.marks_played) == (1, 0)


async def test_an_echo_also_completes_every_earlier_mark_but_not_later_ones() -> None:
    serializer = await _started()
    a = await _mark(serializer, TwilioMarkRequestFrame(label="a"))
    b = await _mark(serializer, TwilioMarkRequestFrame(label="b"))
    c = await _mark(serializer, TwilioMarkRequestFrame(label="c"))
    assert isinstance(echo_b := await serializer.deserialize(tw.mark(2, b)), TwilioMarkEchoFrame)
    assert echo_b.played and echo_b.label == "b"
    late_a = await serializer.deserialize(tw.mark(3, a))  # done with b: no longer pending
    assert isinstance(late_a, TwilioMarkEchoFrame) and late_a.ulaw_bytes_sent is None
    await serializer.serialize(InterruptionFrame())  # only c was still pending: flushed
    echo_c = await serializer.deserialize(tw.mark(4, c))
    assert isinstance(echo_c, TwilioMarkEchoFrame) and not echo_c.played and echo_c.label == "c"
    assert (serializer.stats.marks_played, serializer.stats.marks_flushed) == (1, 1)


async def test_unknown_mark_echoes_warn_once(logs: list[str]) -> None:
    serializer = await _started()
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
    serializer = await _started()
    for frame_type in (OutputTransportMessageFrame, OutputTransportMessageUrgentFrame):
        name = await _mark(serializer, frame_type(message=message))
        assert name.rpartition(":")[0].rpartition(":")[0] == label
        echo = await serializer.deserialize(tw.mark(2, name))
        assert isinstance(echo, TwilioMarkEchoFrame) and echo.label == label


async def test_an_urgent_clear_message_becomes_a_clear_and_flushes_marks() -> None:
    serializer = await _started()
    name = await _mark(serializer, TwilioMarkRequestFrame(label="x"))
    clear = await serializer.serialize(OutputTransportMessageUrgentFrame(message={"event": "clear"}))
    assert json.loads(clear) == {"event": "clear", "streamSid": tw.STREAM_SID}
    echo = await serializer.deserialize(tw.mark(2, name))
    assert isinstance(echo, TwilioMarkEchoFrame) and not echo.played


async def test_rtvi_messages_pass_when_the_filter_is_off() -> None:
    serializer = await _started(params=Params(ignore_rtvi_messages=False))
    rtvi = {"label": "rtvi-ai", "type": "bot-ready", "event": "mark"}
    assert await serializer.serialize(OutputTransportMessageFrame(message=rtvi)) is not None
    filtered = await _started()
    assert await filtered.serialize(OutputTransportMessageFrame(message=rtvi)) is None
    assert filtered.stats.outbound_dropped == 0 and filtered.stats.marks_sent == 0


async def test_a_dropped_transport_message_names_its_event_once(logs: list[str]) -> None:
    serializer = await _started()
    await serializer.serialize(OutputTransportMessageFrame(message={"event": "start"}))
    await serializer.serialize(OutputTransportMessageFrame(message={"event": "stop"}))
    warned = [line for line in logs if "WARNING" in line and "31951" in line]
    assert len(warned) == 1 and "'start'" in warned[0]
    assert any("DEBUG" in line and "'stop'" in line for line in logs)


async def test_frames_with_no_twilio_message_send_nothing() -> None:
    serializer = await _started()
    assert await serializer.serialize(TextFrame(text="hello")) is None
    assert serializer.stats == TwilioStreamStats()


# ----------------------------------------------------------------------------- inbound


async def test_a_single_lost_packet_is_a_gap_of_one() -> None:
    serializer = await _started()
    await serializer.deserialize(tw.media(2, b"\x01"))
    await serializer.deserialize(tw.media(4, b"\x01"))
    assert (serializer.stats.sequence_gaps, serializer.stats.sequence_missing) == (1, 1)
    await serializer.deserialize(tw.media(7, b"\x01"))
    assert (serializer.stats.sequence_gaps, serializer.stats.sequence_missing) == (2, 3)
    await serializer.deserialize(tw.media(3, b"\x01"))
    await serializer.deserialize(tw.media(3, b"\x01"))
    assert serializer.stats.sequence_out_of_order == 2


async def test_sequence_numbers_count_across_every_event_type() -> None:
    serializer = await _started()  # start was 1
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
    serializer = await _started()
    for message in ("{oops", '{"event": "bogus"}', "{oops", '{"event": "bogus"}'):
        assert await serializer.deserialize(message) is None
    warned = [line for line in logs if "WARNING" in line and "dropped a Twilio message" in line]
    assert len(warned) == 2
    assert any("DEBUG" in line and "dropped message starts '{oops'" in line for line in logs)


async def test_stop_is_logged_and_carries_the_call_sid(logs: list[str]) -> None:
    serializer = await _started()
    stop = await serializer.deserialize(tw.stop(2))
    assert stop is not None and stop.call_sid == tw.CALL_SID and stop.reason == "twilio stop"
    assert any("INFO" in line and tw.STREAM_SID in line and "stopped" in line for line in logs)


async def test_start_logs_its_tracks(logs: list[str]) -> None:
    await _started()
    assert any("started, tracks=inbound" in line for line in logs)


async def _accepted(serializer: TwilioMediaStreamSerializer, frame: bytes, seq: int) -> int:
    """How many ``frame``s in a row the serializer takes at once (at most 100: a bound for broken code)."""
    for n in range(100):
        if await serializer.deserialize(tw.media(seq + n, frame)) is None:
            return n
    return 100


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_the_bucket_holds_rate_plus_burst_and_refills_at_the_rate(logs: list[str]) -> None:
    clock = Clock()
    serializer = TwilioMediaStreamSerializer(
        params=Params(max_inbound_rate=1.0, inbound_burst_ms=500), clock=clock
    )
    frame = b"\xff" * 400  # 50 ms
    taken = await _accepted(serializer, frame, 1)
    assert taken == (8000 + 4000) // 400  # one second at the rate plus the 500 ms burst
    assert serializer.stats.rate_dropped == 1
    clock.now += 0.0625  # 62.5 ms later: one more 50 ms frame, not two
    assert await serializer.deserialize(tw.media(100, frame)) is not None
    assert await serializer.deserialize(tw.media(101, frame)) is None
    clock.now += 10.0  # a long pause refills to the capacity, not beyond
    refilled = await _accepted(serializer, frame, 200)
    assert refilled == 30
    assert serializer.stats.rate_dropped == 3
    assert sum("WARNING" in line and "faster than 1x real time" in line for line in logs) == 1


async def test_a_clock_going_backwards_refills_nothing() -> None:
    clock = Clock()
    serializer = TwilioMediaStreamSerializer(
        params=Params(max_inbound_rate=1.0, inbound_burst_ms=0), clock=clock
    )
    frame = b"\xff" * 8000
    assert await serializer.deserialize(tw.media(1, frame)) is not None
    clock.now -= 5.0
    assert await serializer.deserialize(tw.media(2, b"\xff" * 80)) is None


async def test_a_payload_exactly_the_bucket_is_taken() -> None:
    clock = Clock()
    serializer = TwilioMediaStreamSerializer(
        params=Params(max_inbound_rate=1.0, inbound_burst_ms=0), clock=clock
    )
    assert await serializer.deserialize(tw.media(1, b"\xff" * 8000)) is not None
    assert await serializer.deserialize(tw.media(2, b"\xff")) is None


async def test_dropped_media_still_counts_as_activity() -> None:
    clock = Clock()
    serializer = TwilioMediaStreamSerializer(
        params=Params(max_inbound_rate=1.0, inbound_burst_ms=0), clock=clock
    )
    await serializer.deserialize(tw.media(1, b"\xff" * 8000))
    clock.now += 0.001
    assert await serializer.deserialize(tw.media(2, b"\xff" * 160)) is None
    assert serializer.last_media_monotonic == serializer.last_activity_monotonic == 100.001


async def test_media_decodes_to_the_exact_pcm() -> None:
    serializer = await _started()
    frame = await serializer.deserialize(tw.media(2, bytes(range(256))))
    assert isinstance(frame, InputAudioRawFrame)
    assert frame.audio == g711.decode(bytes(range(256)))
    assert (frame.sample_rate, frame.num_channels) == (8000, 1)


# ----------------------------------------------------------------------------- hang-up


async def test_the_default_client_hangs_up_with_the_given_credentials(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    posts: list[dict[str, Any]] = []
    async with tw.serve(fake_twilio_rest(posts)) as port:
        point_twilio_clients_at(monkeypatch, port)
        serializer = await _started(call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, auth_token=TOKEN)
        assert await serializer.serialize(CancelFrame()) is None
        assert await serializer.serialize(EndFrame()) is None
    assert len(posts) == 1
    assert (posts[0]["account"], posts[0]["call"], posts[0]["form"]) == (
        tw.ACCOUNT_SID,
        tw.CALL_SID,
        {"Status": "completed"},
    )
    assert _basic(posts[0]["auth"]) == f"{tw.ACCOUNT_SID}:{TOKEN}"
    assert any("INFO" in line and f"hung up Twilio call {tw.CALL_SID}" in line for line in logs)
    assert not any(TOKEN in line for line in logs)


async def test_hang_up_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    posts: list[dict[str, Any]] = []
    async with tw.serve(fake_twilio_rest(posts)) as port:
        point_twilio_clients_at(monkeypatch, port)
        serializer = await _started(
            call_sid=tw.CALL_SID,
            account_sid=tw.ACCOUNT_SID,
            auth_token=TOKEN,
            params=Params(auto_hang_up=False),
        )
        await serializer.serialize(EndFrame())
    assert posts == []


@pytest.mark.parametrize("default_client", [True, False])
async def test_an_unreachable_twilio_is_logged_not_raised(
    default_client: bool, monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    port = free_port()
    if default_client:
        point_twilio_clients_at(monkeypatch, port)
        serializer = await _started(call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, auth_token=TOKEN)
    else:
        serializer = await _started(
            call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, twilio_client=sdk_client(port)
        )
    assert await serializer.serialize(EndFrame()) is None
    assert await serializer.serialize(EndFrame()) is None  # tried once only
    errors = [line for line in logs if "ERROR" in line]
    assert len(errors) == 1
    assert f"failed to hang up Twilio call {tw.CALL_SID}" in errors[0] and "(status None)" in errors[0]
    assert not any(TOKEN in line for line in logs)


def failing_twilio_rest() -> FastAPI:
    """Twilio's REST API having a bad day: every call update is a 500."""
    app = FastAPI()

    @app.post("/2010-04-01/Accounts/{account}/Calls/{call}.json")
    async def update_call(account: str, call: str) -> JSONResponse:
        return JSONResponse(
            {"code": 20500, "message": "Internal Server Error", "status": 500}, status_code=500
        )

    return app


async def test_a_server_error_is_logged_with_its_status(logs: list[str]) -> None:
    async with tw.serve(failing_twilio_rest()) as port:
        serializer = await _started(
            call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, twilio_client=sdk_client(port)
        )
        assert await serializer.serialize(EndFrame()) is None
    errors = [line for line in logs if "ERROR" in line]
    assert len(errors) == 1 and "TwilioRestException (status 500)" in errors[0]


async def test_a_404_is_a_debug_line_naming_the_call(logs: list[str]) -> None:
    posts: list[dict[str, Any]] = []
    async with tw.serve(fake_twilio_rest(posts, status=404)) as port:
        serializer = await _started(
            call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, twilio_client=sdk_client(port)
        )
        await serializer.serialize(EndFrame())
    assert any("DEBUG" in line and f"Twilio call {tw.CALL_SID} was already over" in line for line in logs)


# ------------------------------------------------------------------------ found by the first mutation run


def test_the_name_given_is_the_serializers_name() -> None:
    assert TwilioMediaStreamSerializer(name="twilio-7").name == "twilio-7"


async def test_setup_names_a_wrong_input_rate() -> None:
    with pytest.raises(ValueError, match=r"runs at audio_in_sample_rate=16000\. Use"):
        await TwilioMediaStreamSerializer().setup(_setup(16000, 8000))


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


async def test_a_mark_message_is_exactly_the_documented_one() -> None:
    serializer = await _started()
    message = json.loads(await serializer.serialize(TwilioMarkRequestFrame(label="x")))
    assert message == {"event": "mark", "streamSid": tw.STREAM_SID, "mark": {"name": "x:1:0"}}


async def test_a_mark_request_frame_label_wins_over_its_message() -> None:
    serializer = await _started()
    frame = TwilioMarkRequestFrame(label="reply", message={"event": "mark", "mark": {"name": "other"}})
    name = await _mark(serializer, frame)
    assert name == "reply:1:0"
    echo = await serializer.deserialize(tw.mark(2, name))
    assert isinstance(echo, TwilioMarkEchoFrame) and echo.label == "reply"


async def test_every_flushed_mark_is_counted() -> None:
    serializer = await _started()
    names = [await _mark(serializer, TwilioMarkRequestFrame(label=f"m{i}")) for i in range(3)]
    await serializer.serialize(InterruptionFrame())
    for seq, name in enumerate(names, start=2):
        echo = await serializer.deserialize(tw.mark(seq, name))
        assert isinstance(echo, TwilioMarkEchoFrame) and not echo.played and echo.ulaw_bytes_sent == 0
    assert (serializer.stats.marks_flushed, serializer.stats.marks_played) == (3, 0)


async def test_sequence_anomalies_are_logged_at_debug(logs: list[str]) -> None:
    serializer = await _started()
    await serializer.deserialize(tw.media(4, b"\x01"))
    await serializer.deserialize(tw.media(3, b"\x01"))
    assert any("DEBUG" in line and "sequenceNumber skipped 2 before 4" in line for line in logs)
    assert any("DEBUG" in line and "sequenceNumber 3 is a duplicate or out of order" in line for line in logs)


def _start_with_tracks(tracks: list[str]) -> str:
    message = json.loads(tw.start())
    message["start"]["tracks"] = tracks
    return json.dumps(message)


async def test_start_logs_at_most_four_tracks_each_cut_at_16_characters(logs: list[str]) -> None:
    serializer = TwilioMediaStreamSerializer()
    await serializer.deserialize(_start_with_tracks(["inbound", "outbound", "a" * 16, "b" * 17, "fifth"]))
    line = next(line for line in logs if "started, tracks=" in line)
    shown = "inbound,outbound," + "a" * 16 + "," + repr("b" * 16 + "…")
    assert line.rstrip().endswith(f"started, tracks={shown}")


async def test_a_very_slow_rate_is_still_a_bound() -> None:
    clock = Clock()
    serializer = TwilioMediaStreamSerializer(
        params=Params(max_inbound_rate=0.0001, inbound_burst_ms=0), clock=clock
    )  # 0.8 bytes per second: the first 10 ms message is already too much
    assert await serializer.deserialize(tw.media(1, b"\xff" * 80)) is None
    assert serializer.stats.rate_dropped == 1


async def test_the_default_client_leaves_no_connection_pool_open(monkeypatch: pytest.MonkeyPatch) -> None:
    posts: list[dict[str, Any]] = []
    async with tw.serve(fake_twilio_rest(posts)) as port:
        point_twilio_clients_at(monkeypatch, port)
        serializer = await _started(call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, auth_token=TOKEN)
        gc.collect()  # earlier tests' pooled clients (sdk_client) are not this serializer's
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await serializer.serialize(EndFrame())
            gc.collect()
    assert len(posts) == 1
    assert not [str(w.message) for w in caught if "Unclosed client session" in str(w.message)]


async def test_a_twilio_api_that_never_answers_does_not_hold_up_the_end(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await asyncio.sleep(30)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(twilio_rest, "_HANG_UP_TIMEOUT_S", 0.3)
    point_twilio_clients_at(monkeypatch, port)
    serializer = await _started(call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, auth_token=TOKEN)
    try:
        async with asyncio.timeout(5):
            assert await serializer.serialize(EndFrame()) is None
    finally:
        server.close()
    errors = [line for line in logs if "ERROR" in line]
    assert len(errors) == 1 and f"failed to hang up Twilio call {tw.CALL_SID}: TimeoutError" in errors[0]
