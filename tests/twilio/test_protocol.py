"""The pure Twilio Media Streams core, fed literal messages (Twilio's documented examples in tests/data)."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipecat_twilio_realtime.twilio import protocol as tp

DATA = Path(__file__).parents[1] / "data"
SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
ACCOUNT = "AC3c2b6d4e5f60718293a4b5c6d7e8f901"
CALL = "CA9f8e7d6c5b4a39281706f5e4d3c2b1a0"
INBOUND = ("connected", "start", "media", "media_inbound", "dtmf", "mark", "stop")


def literal(name: str) -> str:
    """The text of ``tests/data/twilio_<name>.json``."""
    return (DATA / f"twilio_{name}.json").read_text()


def documented(name: str) -> dict[str, Any]:
    """A literal message as a dict, to derive malformed variants from."""
    result: dict[str, Any] = json.loads(literal(name))
    return result


def variant(name: str, path: str, value: Any = ..., *, delete: bool = False) -> str:
    """The literal message ``name`` with the value at dotted ``path`` replaced (or deleted)."""
    msg = documented(name)
    *parents, leaf = path.split(".")
    node = msg
    for key in parents:
        node = node[key]
    if delete:
        del node[leaf]
    else:
        node[leaf] = value
    return json.dumps(msg)


# ----------------------------------------------------------------------------- every inbound event


def test_connected() -> None:
    assert tp.parse_message(literal("connected")) == tp.Connected(protocol="Call", version="1.0.0")


def test_start() -> None:
    assert tp.parse_message(literal("start")) == tp.Start(
        sequence_number=1,
        stream_sid=SID,
        account_sid=ACCOUNT,
        call_sid=CALL,
        tracks=("inbound", "outbound"),
        media_format=tp.MediaFormat("audio/x-mulaw", 8000, 1),
        custom_parameters={"FirstName": "Jane", "LastName": "Doe", "RemoteParty": "Bob"},
    )


def test_start_custom_parameters_are_read_only() -> None:
    event = tp.parse_message(literal("start"))
    assert isinstance(event, tp.Start)
    with pytest.raises(TypeError):
        event.custom_parameters["FirstName"] = "Eve"  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("media", tp.Media(3, SID, "outbound", 1, 5, base64.b64decode("no+JhoaJjpz7"))),
        ("media_inbound", tp.Media(4, SID, "inbound", 2, 5, base64.b64decode("no+JhoaJjpzS"))),
        ("dtmf", tp.Dtmf(5, SID, "inbound_track", "1")),
        ("mark", tp.Mark(4, SID, "my label")),
        ("stop", tp.Stop(5, SID, ACCOUNT, CALL)),
    ],
)
def test_documented_examples_parse_to_their_typed_events(name: str, expected: tp.InboundEvent) -> None:
    assert tp.parse_message(literal(name)) == expected


@pytest.mark.parametrize("name", INBOUND)
def test_bytes_and_text_parse_the_same(name: str) -> None:
    text = literal(name)
    assert tp.parse_message(text.encode()) == tp.parse_message(text)
    assert tp.parse_message(bytearray(text.encode())) == tp.parse_message(text)


def test_counters_may_be_json_numbers() -> None:
    msg = documented("media")
    msg["sequenceNumber"], msg["media"]["chunk"], msg["media"]["timestamp"] = 3, 1, 5
    assert tp.parse_message(json.dumps(msg)) == tp.parse_message(literal("media"))


def test_start_takes_the_stream_sid_from_the_start_block_when_the_top_level_one_is_absent() -> None:
    event = tp.parse_message(variant("start", "streamSid", delete=True))
    assert isinstance(event, tp.Start) and event.stream_sid == SID


# ----------------------------------------------------------------------------- every malformed case


def _media(**media: object) -> str:
    body = {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": "//8="}
    body.update(media)
    return json.dumps({"event": "media", "sequenceNumber": "2", "streamSid": SID, "media": body})


def _fmt(encoding: str = "audio/x-mulaw", rate: int = 8000, channels: int = 1) -> str:
    return variant(
        "start", "start.mediaFormat", {"encoding": encoding, "sampleRate": rate, "channels": channels}
    )


@pytest.mark.parametrize(
    ("data", "reason", "words"),
    [
        # not usable as JSON text at all
        ("{not json", "bad_json", "not valid JSON"),
        ("", "bad_json", "not valid JSON"),
        ("[" * 100_00 + "]" * 100_00, "bad_json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not_text", "not UTF-8"),
        (b'{"event": "media\xc3"}', "not_text", "not UTF-8"),
        ("[1, 2]", "not_object", "JSON list"),
        ('"media"', "not_object", "JSON str"),
        ("42", "not_object", "JSON int"),
        ("null", "not_object", "JSON NoneType"),
        # event
        ('{"event": "hello"}', "unknown_event", "'hello'"),
        ('{"event": "clear", "streamSid": "MZ"}', "unknown_event", "'clear'"),  # outbound-only
        ('{"noevent": 1}', "unknown_event", "None"),
        ('{"event": 5}', "unknown_event", "5"),
        # missing fields
        (variant("media", "media", delete=True), "missing_field", "'media'"),
        (variant("media", "media.payload", delete=True), "missing_field", "media.payload"),
        (variant("media", "sequenceNumber", delete=True), "missing_field", "sequenceNumber"),
        (variant("media", "streamSid", delete=True), "missing_field", "streamSid"),
        (variant("start", "start.callSid", delete=True), "missing_field", "start.callSid"),
        (variant("start", "start.accountSid", delete=True), "missing_field", "start.accountSid"),
        (variant("start", "start.mediaFormat", delete=True), "missing_field", "start.mediaFormat"),
        (
            variant("start", "start.mediaFormat.sampleRate", delete=True),
            "missing_field",
            "start.mediaFormat.sampleRate",
        ),
        (variant("mark", "mark.name", delete=True), "missing_field", "mark.name"),
        (variant("dtmf", "dtmf.digit", delete=True), "missing_field", "dtmf.digit"),
        (variant("stop", "streamSid", delete=True), "missing_field", "streamSid"),
        # fields of the wrong type or value
        (variant("media", "media.payload", 5), "bad_field", "media.payload"),
        (variant("media", "media", "payload"), "bad_field", "must be an object"),
        (variant("media", "media.chunk", "x1"), "bad_field", "media.chunk"),
        (variant("media", "media.timestamp", -5), "bad_field", "must not be negative"),
        (variant("media", "sequenceNumber", [3]), "bad_field", "must be a number"),
        (variant("media", "sequenceNumber", True), "bad_field", "must be a number"),
        (variant("media", "sequenceNumber", "٣"), "bad_field", "decimal"),  # an Arabic-Indic digit
        (variant("media", "streamSid", 7), "bad_field", "streamSid"),
        (variant("start", "streamSid", 7), "bad_field", "streamSid"),
        (variant("start", "start.tracks", "inbound"), "bad_field", "start.tracks"),
        (variant("start", "start.customParameters", ["a"]), "bad_field", "customParameters"),
        (variant("start", "start.mediaFormat.sampleRate", "8k"), "bad_field", "sampleRate"),
        (variant("mark", "mark.name", {"x": 1}), "bad_field", "mark.name"),
        (variant("stop", "stop", "gone"), "bad_field", "'stop'"),
        (variant("dtmf", "dtmf.digit", "12"), "bad_field", "DTMF"),
        (variant("dtmf", "dtmf.digit", "x"), "bad_field", "DTMF"),
        # payload
        (_media(payload="%%%not-base64"), "bad_base64", "not valid base64"),
        (_media(payload="//8"), "bad_base64", "not valid base64"),  # bad padding
        (_media(payload=""), "empty_payload", "no samples"),
        # media format: Twilio bidirectional streams are μ-law 8000 Hz mono, nothing else
        (_fmt(encoding="audio/l16"), "bad_media_format", "audio/l16"),
        (_fmt(encoding="audio/x-alaw"), "bad_media_format", "audio/x-alaw"),
        (_fmt(rate=16000), "bad_media_format", "16000"),
        (_fmt(rate=24000), "bad_media_format", "24000"),
        (_fmt(channels=2), "bad_media_format", "2 ch"),
    ],
)
def test_malformed_input_raises_the_protocol_error_naming_what_was_wrong(
    data: str | bytes, reason: str, words: str
) -> None:
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(data)
    assert info.value.reason == reason
    assert words in str(info.value)


def test_protocol_error_carries_the_event_when_readable() -> None:
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(_media(payload=""))
    assert info.value.event == "media"
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message("{nope")
    assert info.value.event is None
    assert isinstance(info.value, ValueError)  # callers may catch it as a ValueError


def test_oversized_message_is_refused_and_the_cap_is_adjustable() -> None:
    big = _media(payload=base64.b64encode(b"\xff" * 60_000).decode())
    assert len(big) > tp.MAX_MESSAGE_BYTES
    for data in (big, big.encode()):
        with pytest.raises(tp.TwilioProtocolError) as info:
            tp.parse_message(data)
        assert info.value.reason == "too_large"
        assert str(len(big)) in str(info.value)
    assert isinstance(tp.parse_message(big, max_bytes=len(big)), tp.Media)
    with pytest.raises(tp.TwilioProtocolError, match="exceeds the 50-byte cap"):
        tp.parse_message(literal("media"), max_bytes=50)


def test_oversized_is_measured_in_utf8_bytes_not_characters() -> None:
    # 20,000 four-byte characters: 20,000 characters but 80,000 bytes on the wire.
    mark = {"event": "mark", "sequenceNumber": "1", "streamSid": SID, "mark": {"name": "😀" * 20_000}}
    text = json.dumps(mark, ensure_ascii=False)
    assert len(text) < tp.MAX_MESSAGE_BYTES < len(text.encode())
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(text)
    assert info.value.reason == "too_large"
    assert isinstance(tp.parse_message(text, max_bytes=len(text.encode())), tp.Mark)


# ----------------------------------------------------------------------------- optional fields and bounds


def test_start_without_tracks_or_custom_parameters_has_empty_ones() -> None:
    msg = documented("start")
    del msg["start"]["tracks"]
    msg["start"]["customParameters"] = None
    event = tp.parse_message(json.dumps(msg))
    assert isinstance(event, tp.Start)
    assert event.tracks == ()
    assert dict(event.custom_parameters) == {}


def test_media_without_track_chunk_or_timestamp_gets_the_defaults() -> None:
    msg = documented("media")
    for key in ("track", "chunk", "timestamp"):
        del msg["media"][key]
    event = tp.parse_message(json.dumps(msg))
    assert isinstance(event, tp.Media)
    assert (event.track, event.chunk, event.timestamp_ms) == ("inbound", 0, None)
    assert event.payload == base64.b64decode("no+JhoaJjpz7")


def test_dtmf_track_is_read_and_defaults_to_the_inbound_track() -> None:
    event = tp.parse_message(variant("dtmf", "dtmf.track", "outbound_track"))
    assert isinstance(event, tp.Dtmf) and event.track == "outbound_track"
    event = tp.parse_message(variant("dtmf", "dtmf.track", delete=True))
    assert isinstance(event, tp.Dtmf) and event.track == "inbound_track"


@pytest.mark.parametrize("stop", [..., None, {}])
def test_stop_without_its_block_has_empty_sids(stop: Any) -> None:
    msg = documented("stop")
    if stop is ...:
        del msg["stop"]
    else:
        msg["stop"] = stop
    assert tp.parse_message(json.dumps(msg)) == tp.Stop(5, SID, "", "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0), (0, 0), ("9" * 18, 10**18 - 1), ("007", 7)],
)
def test_sequence_number_bounds_that_parse(value: object, expected: int) -> None:
    event = tp.parse_message(variant("mark", "sequenceNumber", value))
    assert isinstance(event, tp.Mark) and event.sequence_number == expected


@pytest.mark.parametrize("value", ["1" + "0" * 18, "-1", -1, "", " 1", "1.0", 1.0, None])
def test_sequence_number_bounds_that_do_not(value: object) -> None:
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(variant("mark", "sequenceNumber", value))
    assert info.value.reason == ("missing_field" if value is None else "bad_field")
    assert "sequenceNumber" in str(info.value) and info.value.event == "mark"


@pytest.mark.parametrize(("name", "path"), [("media", "media.track"), ("dtmf", "dtmf.track")])
def test_a_track_that_is_not_a_string_is_refused(name: str, path: str) -> None:
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(variant(name, path, {"x": 1}))
    assert info.value.reason == "bad_field" and path in str(info.value)


# ----------------------------------------------------------------------------- Twilio SIDs


def test_real_shaped_sids_in_either_hex_case_are_accepted() -> None:
    upper = SID[:2] + SID[2:].upper()
    event = tp.parse_message(variant("mark", "streamSid", upper))
    assert isinstance(event, tp.Mark) and event.stream_sid == upper
    msg = documented("start")
    msg["start"]["callSid"] = CALL[:2] + "0123456789ABCDEFabcdef0123456789"
    event = tp.parse_message(json.dumps(msg))
    assert isinstance(event, tp.Start) and event.call_sid.endswith("ABCDEFabcdef0123456789")


BAD_SIDS = [
    "MZ123",  # too short
    SID[:-1],  # 31 hex digits
    SID + "0",  # 33 hex digits
    SID[:-1] + "g",  # not hex
    SID + "\n",  # a trailing newline
    " " + SID[:-1],  # whitespace
    SID[:10] + "\x00" + SID[11:],  # a control character
    SID[:-1] + "٣",  # a non-ASCII digit
    "mz" + SID[2:],  # the prefix is upper case
    "",
]


@pytest.mark.parametrize(
    ("name", "path", "prefix"),
    [
        ("media", "streamSid", "MZ"),
        ("mark", "streamSid", "MZ"),
        ("dtmf", "streamSid", "MZ"),
        ("stop", "streamSid", "MZ"),
        ("stop", "stop.callSid", "CA"),
        ("stop", "stop.accountSid", "AC"),
        ("start", "streamSid", "MZ"),
        ("start", "start.streamSid", "MZ"),
        ("start", "start.callSid", "CA"),
        ("start", "start.accountSid", "AC"),
    ],
)
@pytest.mark.parametrize("bad", BAD_SIDS, ids=range(len(BAD_SIDS)))
def test_a_malformed_sid_is_refused_naming_the_field(name: str, path: str, prefix: str, bad: str) -> None:
    bad = prefix + bad[2:] if bad.startswith("MZ") else bad
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(variant(name, path, bad))
    assert info.value.reason == "bad_sid" and info.value.event == name
    assert f"'{path}' is not a {prefix} SID" in str(info.value)


@pytest.mark.parametrize(
    ("path", "other"),
    [("streamSid", CALL), ("streamSid", ACCOUNT), ("start.callSid", SID), ("start.accountSid", CALL)],
)
def test_a_sid_of_another_kind_is_refused(path: str, other: str) -> None:
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(variant("start", path, other))
    assert info.value.reason == "bad_sid" and path in str(info.value)


def test_a_bad_sid_is_shown_only_as_a_short_quoted_prefix() -> None:
    hostile = "MZ\x1b[31m" + "A" * 5000
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(variant("media", "streamSid", hostile))
    text = str(info.value)
    assert "\x1b" not in text and "A" * 13 not in text and len(text) < 120
    assert "'MZ\\x1b[31mAAAAA'" in text and "5007 characters" in text


def test_start_needs_a_stream_sid_at_one_level_at_least() -> None:
    msg = documented("start")
    del msg["streamSid"], msg["start"]["streamSid"]
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(json.dumps(msg))
    assert (info.value.reason, info.value.event, str(info.value)) == (
        "missing_field",
        "start",
        "start: missing 'streamSid'",
    )
    msg["streamSid"] = None
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(json.dumps(msg))
    assert info.value.reason == "missing_field"


def test_start_with_the_top_level_stream_sid_only() -> None:
    event = tp.parse_message(variant("start", "start.streamSid", delete=True))
    assert isinstance(event, tp.Start) and event.stream_sid == SID


def test_start_with_two_different_stream_sids_is_refused() -> None:
    other = "MZ" + "0" * 32
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(variant("start", "start.streamSid", other))
    assert info.value.reason == "bad_sid" and "differ" in str(info.value)


# ------------------------------------------------------------------------- errors name the event and path

REQUIRED = [
    ("start", "sequenceNumber"),
    ("start", "start"),
    ("start", "start.accountSid"),
    ("start", "start.callSid"),
    ("start", "start.mediaFormat"),
    ("start", "start.mediaFormat.encoding"),
    ("start", "start.mediaFormat.sampleRate"),
    ("start", "start.mediaFormat.channels"),
    ("media", "sequenceNumber"),
    ("media", "streamSid"),
    ("media", "media"),
    ("media", "media.payload"),
    ("dtmf", "sequenceNumber"),
    ("dtmf", "streamSid"),
    ("dtmf", "dtmf"),
    ("dtmf", "dtmf.digit"),
    ("mark", "sequenceNumber"),
    ("mark", "streamSid"),
    ("mark", "mark"),
    ("mark", "mark.name"),
    ("stop", "sequenceNumber"),
    ("stop", "streamSid"),
]
OPTIONAL = [
    ("start", "streamSid"),
    ("start", "start.streamSid"),
    ("start", "start.tracks"),
    ("start", "start.customParameters"),
    ("media", "media.track"),
    ("media", "media.chunk"),
    ("media", "media.timestamp"),
    ("dtmf", "dtmf.track"),
    ("stop", "stop"),
    ("stop", "stop.accountSid"),
    ("stop", "stop.callSid"),
]


@pytest.mark.parametrize(("name", "path"), REQUIRED)
def test_a_missing_field_error_names_the_event_and_the_exact_path(name: str, path: str) -> None:
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(variant(name, path, delete=True))
    assert (info.value.reason, info.value.event, str(info.value)) == (
        "missing_field",
        name,
        f"{name}: missing '{path}'",
    )


@pytest.mark.parametrize(("name", "path"), REQUIRED + OPTIONAL)
def test_a_field_of_the_wrong_type_names_the_event_and_the_exact_path(name: str, path: str) -> None:
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(variant(name, path, [1]))
    assert (info.value.reason, info.value.event) == ("bad_field", name)
    assert str(info.value).startswith(f"{name}: '{path}' must be ")


def test_a_payload_with_characters_outside_base64_is_refused_not_skipped() -> None:
    for payload in ("AA==!", "A A=", "AA==\n"):
        with pytest.raises(tp.TwilioProtocolError) as info:
            tp.parse_message(_media(payload=payload))
        assert (info.value.reason, info.value.event) == ("bad_base64", "media")


def test_every_error_of_a_known_event_carries_that_event() -> None:
    cases = {
        "media": [_media(payload="%%"), _media(payload="")],
        "start": [_fmt(rate=16000), variant("start", "start.streamSid", "MZ" + "0" * 32)],
        "dtmf": [variant("dtmf", "dtmf.digit", "x")],
    }
    for event, messages in cases.items():
        for message in messages:
            with pytest.raises(tp.TwilioProtocolError) as info:
                tp.parse_message(message)
            assert info.value.event == event


@pytest.mark.parametrize("digit", list("0123456789*#ABCD"))
def test_every_dtmf_key_is_accepted(digit: str) -> None:
    event = tp.parse_message(variant("dtmf", "dtmf.digit", digit))
    assert isinstance(event, tp.Dtmf) and event.digit == digit


@pytest.mark.parametrize("digit", ["a", "d", "X", "E", "", " ", "1 "])
def test_anything_else_is_not_a_dtmf_key(digit: str) -> None:
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(variant("dtmf", "dtmf.digit", digit))
    assert (info.value.reason, info.value.event) == ("bad_field", "dtmf")


def test_connected_without_protocol_or_version() -> None:
    assert tp.parse_message('{"event": "connected"}') == tp.Connected(protocol="", version="")


def test_an_unknown_event_is_named_cut_to_40_characters() -> None:
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(json.dumps({"event": "e" * 100}))
    assert (info.value.event, str(info.value)) == ("e" * 100, f"unknown event {'e' * 40!r}")
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message('{"event": ["media"]}')
    assert (info.value.event, str(info.value)) == (None, "unknown event ['media']")


def test_a_non_ascii_message_exactly_at_the_cap_in_characters_is_measured_in_bytes() -> None:
    mark = {"event": "mark", "sequenceNumber": "1", "streamSid": SID, "mark": {"name": "é" * 100}}
    text = json.dumps(mark, ensure_ascii=False)
    with pytest.raises(tp.TwilioProtocolError) as info:
        tp.parse_message(text, max_bytes=len(text))  # 100 characters more in UTF-8 bytes
    assert info.value.reason == "too_large" and str(len(text) + 100) in str(info.value)
    assert isinstance(tp.parse_message(text, max_bytes=len(text) + 100), tp.Mark)


# ----------------------------------------------------------------------------- fuzz: nothing else escapes


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
events = st.sampled_from(["connected", "start", "media", "dtmf", "mark", "stop", "clear", ""])


def _paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    return found


@st.composite
def mutated_documented_messages(draw: st.DrawFn) -> str:
    """A documented message with one to three fields deleted or replaced by arbitrary JSON values.

    Several at once, so combinations such as a ``start`` with no ``streamSid`` at either level occur.
    """
    msg = copy.deepcopy(documented(draw(st.sampled_from(INBOUND))))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(msg)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        node = msg
        for key in path[:-1]:
            node = node[key]
        if draw(st.booleans()):
            del node[path[-1]]
        else:
            node[path[-1]] = draw(json_values)
    return json.dumps(msg)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        json_values.map(json.dumps),
        mutated_documented_messages(),
        st.builds(
            lambda e, body: json.dumps({"event": e, **body}),
            events,
            st.dictionaries(st.text(max_size=15), json_values, max_size=6),
        ),
        st.builds(
            lambda e, key, body: json.dumps({"event": e, "sequenceNumber": "1", "streamSid": SID, key: body}),
            events,
            st.sampled_from(["start", "media", "dtmf", "mark", "stop"]),
            json_values,
        ),
    )
)
def test_fuzz_only_the_documented_error_escapes(data: str | bytes) -> None:
    try:
        event = tp.parse_message(data)
    except tp.TwilioProtocolError as e:
        assert e.reason in {
            "too_large",
            "not_text",
            "bad_json",
            "not_object",
            "unknown_event",
            "missing_field",
            "bad_field",
            "bad_base64",
            "empty_payload",
            "bad_media_format",
            "bad_sid",
        }
    else:
        assert isinstance(event, (tp.Connected, tp.Start, tp.Media, tp.Dtmf, tp.Mark, tp.Stop))


# ----------------------------------------------------------------------------- outbound: golden


def _key_tree(obj: object) -> object:
    """The nested key structure of a JSON value, leaves replaced by their type name."""
    if isinstance(obj, dict):
        return {k: _key_tree(v) for k, v in obj.items()}
    return type(obj).__name__


@pytest.mark.parametrize(
    ("name", "built"),
    [
        ("media", lambda: tp.build_media(SID, base64.b64decode("a3242sa2"))),
        ("mark", lambda: tp.build_mark(SID, "my label")),
        ("clear", lambda: tp.build_clear(SID)),
    ],
)
def test_builders_reproduce_twilios_documented_outbound_examples(name: str, built: Any) -> None:
    ours = json.loads(built())
    theirs = json.loads(literal(f"out_{name}"))
    assert _key_tree(ours) == _key_tree(theirs)
    assert ours == theirs


def test_outbound_messages_are_exactly_these_strings() -> None:
    assert (
        tp.build_media("MZ1", b"\xff\x7f\x00")
        == '{"event": "media", "streamSid": "MZ1", "media": {"payload": "/38A"}}'
    )
    assert (
        tp.build_mark("MZ1", "reply-1")
        == '{"event": "mark", "streamSid": "MZ1", "mark": {"name": "reply-1"}}'
    )
    assert tp.build_clear("MZ1") == '{"event": "clear", "streamSid": "MZ1"}'


@given(st.text(max_size=40), st.binary(max_size=400), st.text(max_size=40))
def test_outbound_key_sets_hold_for_any_sid_payload_and_name(sid: str, ulaw: bytes, name: str) -> None:
    media = json.loads(tp.build_media(sid, ulaw))
    mark = json.loads(tp.build_mark(sid, name))
    clear = json.loads(tp.build_clear(sid))
    assert _key_tree(media) == {"event": "str", "streamSid": "str", "media": {"payload": "str"}}
    assert _key_tree(mark) == {"event": "str", "streamSid": "str", "mark": {"name": "str"}}
    assert _key_tree(clear) == {"event": "str", "streamSid": "str"}
    assert base64.b64decode(media["media"]["payload"], validate=True) == ulaw
    assert (media["streamSid"], mark["streamSid"], clear["streamSid"], mark["mark"]["name"]) == (
        sid,
        sid,
        sid,
        name,
    )


# ----------------------------------------------------------------------------- sequence numbers


def test_sequence_tracker_counts_gaps_duplicates_and_reordering() -> None:
    tracker = tp.SequenceTracker()
    assert [tracker.observe(n) for n in (1, 2, 3, 6, 6, 5, 7, 10)] == [0, 0, 0, 2, -1, -1, 0, 2]
    assert (tracker.gaps, tracker.missing, tracker.out_of_order, tracker.last) == (2, 4, 2, 10)


def test_sequence_tracker_in_order_stream_has_no_gaps() -> None:
    tracker = tp.SequenceTracker()
    assert [tracker.observe(n) for n in range(5, 500)] == [0] * 495
    assert (tracker.gaps, tracker.missing, tracker.out_of_order) == (0, 0, 0)


def test_sequence_tracker_first_number_is_free_and_a_duplicate_first_is_counted() -> None:
    tracker = tp.SequenceTracker()
    assert tracker.observe(40) == 0  # the socket may join late: the first number sets the base
    assert tracker.observe(40) == -1
    assert (tracker.gaps, tracker.missing, tracker.out_of_order) == (0, 0, 1)
