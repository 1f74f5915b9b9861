"""Outbound Twilio messages read back by ``twilio_protocol.parse_outbound``: literal messages only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipecat_twilio_realtime.twilio import protocol as tp

DATA = Path(__file__).parents[1] / "data"
SID = "MZ18ad3ab5a668481ce02b83e7395059f0"  # the SID in tests/data/twilio_out_*.json


def _doc(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"twilio_out_{name}.json").read_text())


def test_documented_examples_parse() -> None:
    media = tp.parse_outbound(json.dumps(_doc("media")))
    assert isinstance(media, tp.OutboundMedia) and media.stream_sid == SID and media.payload
    assert tp.parse_outbound(json.dumps(_doc("mark"))) == tp.OutboundMark(SID, "my label")
    assert tp.parse_outbound(json.dumps(_doc("clear"))) == tp.OutboundClear(SID)


def test_builders_round_trip_through_the_parser() -> None:
    assert tp.parse_outbound(tp.build_media("MZ1", b"\x00\x7f\xff")) == tp.OutboundMedia(
        "MZ1", b"\x00\x7f\xff"
    )
    assert tp.parse_outbound(tp.build_media("MZ1", b"")) == tp.OutboundMedia("MZ1", b"")
    assert tp.parse_outbound(tp.build_mark("MZ1", "é 1")) == tp.OutboundMark("MZ1", "é 1")
    assert tp.parse_outbound(tp.build_clear("MZ1")) == tp.OutboundClear("MZ1")


def _variants() -> list[tuple[str, dict[str, Any], str]]:
    """Each documented message with one key added, removed or of the wrong type."""
    cases: list[tuple[str, dict[str, Any], str]] = []
    for name in ("media", "mark", "clear"):
        doc = _doc(name)
        cases.append((f"{name}+type", {**doc, "type": name}, "unexpected_field"))
        cases.append((f"{name}+sequenceNumber", {**doc, "sequenceNumber": "1"}, "unexpected_field"))
        for key in doc:
            if key != "event":
                cases.append((f"{name}-{key}", {k: v for k, v in doc.items() if k != key}, "missing_field"))
        cases.append((f"{name} streamSid int", {**doc, "streamSid": 5}, "bad_field"))
    for name, key in (("media", "payload"), ("mark", "name")):
        doc = _doc(name)
        cases.append((f"{name}.{key}+extra", {**doc, name: {**doc[name], "track": "x"}}, "unexpected_field"))
        cases.append((f"{name}.{key} missing", {**doc, name: {}}, "missing_field"))
        cases.append((f"{name}.{key} int", {**doc, name: {key: 5}}, "bad_field"))
        cases.append((f"{name} not object", {**doc, name: [doc[name][key]]}, "bad_field"))
        cases.append(
            (
                f"{name}.{key} at top",
                {"event": name, "streamSid": SID, key: doc[name][key]},
                "unexpected_field",
            )
        )
    return cases


@pytest.mark.parametrize(("case", "message", "reason"), _variants(), ids=[c[0] for c in _variants()])
def test_each_wrong_key_is_rejected(case: str, message: dict[str, Any], reason: str) -> None:
    with pytest.raises(tp.TwilioProtocolError) as caught:
        tp.parse_outbound(json.dumps(message))
    assert caught.value.reason == reason, (case, str(caught.value))
    assert caught.value.event == message["event"]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b'{"event": "clear", "streamSid": "MZ1"}', "not_text"),
        ("nope", "bad_json"),
        ("[1]", "not_object"),
        ('{"event": "stop", "streamSid": "MZ1"}', "unknown_event"),
        ('{"event": "connected", "protocol": "Call", "version": "1.0.0"}', "unknown_event"),
        ('{"streamSid": "MZ1"}', "unknown_event"),
        ('{"event": 1, "streamSid": "MZ1"}', "unknown_event"),
        ('{"event": "media", "streamSid": "MZ1", "media": {"payload": "%%"}}', "bad_base64"),
    ],
)
def test_messages_twilio_would_not_read_are_rejected(message: str | bytes, reason: str) -> None:
    with pytest.raises(tp.TwilioProtocolError) as caught:
        tp.parse_outbound(message)
    assert caught.value.reason == reason, str(caught.value)


def test_only_the_documented_error_escapes_for_mangled_builder_output() -> None:
    built = tp.build_media("MZ1", bytes(range(40)))
    rejected = 0
    for cut in range(len(built)):
        try:
            tp.parse_outbound(built[:cut])
        except tp.TwilioProtocolError:
            rejected += 1
    assert rejected == len(built)
