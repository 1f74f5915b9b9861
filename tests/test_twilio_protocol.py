"""The pure Twilio Media Streams core, fed literal messages."""

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipecat_twilio_realtime import twilio_protocol as tp

DATA = Path(__file__).parent / "data"
SID = "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"


def literal(name: str) -> str:
    return (DATA / f"twilio_{name}.json").read_text()


def test_connected() -> None:
    assert tp.parse_message(literal("connected")) == tp.Connected(protocol="Call", version="1.0.0")


def test_start() -> None:
    event = tp.parse_message(literal("start"))
    assert isinstance(event, tp.Start)
    assert event.sequence_number == 1
    assert event.stream_sid == SID
    assert event.call_sid.startswith("CA") and event.account_sid.startswith("AC")
    assert event.tracks == ("inbound", "outbound")
    assert event.media_format == tp.EXPECTED_MEDIA_FORMAT
    assert dict(event.custom_parameters) == {"FirstName": "Jane", "LastName": "Doe", "RemoteParty": "Bob"}


def test_media_payload_is_decoded_base64() -> None:
    event = tp.parse_message(literal("media"))
    assert isinstance(event, tp.Media)
    assert (event.sequence_number, event.chunk, event.timestamp_ms, event.track) == (3, 1, 5, "outbound")
    assert event.payload == base64.b64decode("no+JhoaJjpz7")
    assert event.stream_sid == SID


def test_dtmf_mark_stop() -> None:
    assert tp.parse_message(literal("dtmf")) == tp.Dtmf(5, SID, "inbound_track", "1")
    assert tp.parse_message(literal("mark")) == tp.Mark(4, SID, "my label")
    stop = tp.parse_message(literal("stop"))
    assert isinstance(stop, tp.Stop) and stop.call_sid.startswith("CA") and stop.sequence_number == 5


def test_bytes_input_is_accepted_as_utf8() -> None:
    assert isinstance(tp.parse_message(literal("media").encode()), tp.Media)


def _media(**media: object) -> str:
    body = {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": "//8="}
    body.update(media)
    return json.dumps({"event": "media", "sequenceNumber": "2", "streamSid": SID, "media": body})


def _start_with_format(fmt: dict) -> str:
    msg = json.loads(literal("start"))
    msg["start"]["mediaFormat"] = fmt
    return json.dumps(msg)


@pytest.mark.parametrize(
    ("data", "reason", "words"),
    [
        ("{not json", "bad_json", "not valid JSON"),
        ("[1, 2]", "not_object", "JSON list"),
        ('{"event": "hello"}', "unknown_event", "'hello'"),
        ('{"noevent": 1}', "unknown_event", "None"),
        (json.dumps({"event": "media", "sequenceNumber": "2", "streamSid": SID}), "missing_field", "'media'"),
        (_media(payload=None), "missing_field", "media.payload"),
        (_media(payload=5), "bad_field", "media.payload"),
        (_media(payload="%%%not-base64"), "bad_base64", "not valid base64"),
        (_media(payload=""), "empty_payload", "no samples"),
        (_media(chunk="x1"), "bad_field", "media.chunk"),
        (
            _start_with_format({"encoding": "audio/l16", "sampleRate": 8000, "channels": 1}),
            "bad_media_format",
            "audio/l16",
        ),
        (
            _start_with_format({"encoding": "audio/x-mulaw", "sampleRate": 16000, "channels": 1}),
            "bad_media_format",
            "16000",
        ),
        (
            _start_with_format({"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 2}),
            "bad_media_format",
            "2 ch",
        ),
        (b"\xff\xfe\x00garbage", "not_text", "not UTF-8"),
        (
            '{"event": "dtmf", "sequenceNumber": "1", "streamSid": "MZ", "dtmf": {"digit": "12"}}',
            "bad_field",
            "DTMF",
        ),
    ],
)
def test_malformed_input_names_what_was_wrong(data: str | bytes, reason: str, words: str) -> None:
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(data)
    assert info.value.reason == reason
    assert words in str(info.value)


def test_oversized_message_is_refused_before_parsing() -> None:
    big = _media(payload=base64.b64encode(b"\xff" * 60_000).decode())
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(big)
    assert info.value.reason == "too_large"
    assert isinstance(tp.parse_message(big, max_bytes=len(big)), tp.Media)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
events = st.sampled_from(["connected", "start", "media", "dtmf", "mark", "stop", "clear", ""])


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        json_values.map(json.dumps),
        st.builds(
            lambda e, body: json.dumps({"event": e, **body}),
            events,
            st.dictionaries(st.text(max_size=15), json_values, max_size=6),
        ),
        st.builds(
            lambda e, key, body: json.dumps(
                {"event": e, "sequenceNumber": "1", "streamSid": "MZ", key: body}
            ),
            events,
            st.sampled_from(["start", "media", "dtmf", "mark", "stop"]),
            json_values,
        ),
    )
)
def test_fuzz_only_the_documented_error_escapes(data: str | bytes) -> None:
    try:
        tp.parse_message(data)
    except tp.TwilioProtocolError:
        pass


def _keys(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _keys(v) for k, v in obj.items()}
    return type(obj).__name__


def test_outbound_messages_have_exactly_the_documented_keys() -> None:
    media = tp.build_media("MZ1", b"\xff\x7f\x00")
    mark = tp.build_mark("MZ1", "reply-1")
    clear = tp.build_clear("MZ1")
    assert media == '{"event": "media", "streamSid": "MZ1", "media": {"payload": "/38A"}}'
    assert mark == '{"event": "mark", "streamSid": "MZ1", "mark": {"name": "reply-1"}}'
    assert clear == '{"event": "clear", "streamSid": "MZ1"}'
    assert _keys(json.loads(media)) == {"event": "str", "streamSid": "str", "media": {"payload": "str"}}
    assert _keys(json.loads(mark)) == {"event": "str", "streamSid": "str", "mark": {"name": "str"}}
    assert _keys(json.loads(clear)) == {"event": "str", "streamSid": "str"}


def test_sequence_tracker_counts_gaps_and_reordering() -> None:
    tracker = tp.SequenceTracker()
    assert [tracker.observe(n) for n in (1, 2, 3, 6, 6, 5, 7, 10)] == [0, 0, 0, 2, -1, -1, 0, 2]
    assert (tracker.gaps, tracker.missing, tracker.out_of_order) == (2, 4, 2)
