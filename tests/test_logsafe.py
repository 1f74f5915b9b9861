"""Log injection: a SID or mark name carrying a newline and a fake ERROR line stays inside one record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from loguru import logger

from pipecat_twilio_realtime import (
    MediaStatsObserver,
    TwilioMediaStreamSerializer,
    quote_for_log,
)

from . import _twilio_helpers as tw

FORGED = "MZ1\n2026-11-27 00:00:00.000 | ERROR    | forged: admin logged in"


@pytest.fixture
def records() -> Iterator[list[Any]]:
    """Every loguru record written during the test (message and level)."""
    seen: list[Any] = []
    sink = logger.add(lambda m: seen.append(m.record), level="DEBUG", format="{message}")
    yield seen
    logger.remove(sink)


def hostile_start() -> str:
    message = json.loads(tw.start())
    message["streamSid"] = message["start"]["streamSid"] = FORGED
    message["start"]["callSid"] = "CA1\r\nERROR fake"
    message["start"]["tracks"] = ["inbound\nERROR x"]
    return json.dumps(message)


def test_quote_for_log_leaves_plain_sids_bare_and_escapes_the_rest() -> None:
    assert quote_for_log(tw.STREAM_SID) == tw.STREAM_SID
    assert quote_for_log(None) == "-"
    assert quote_for_log(FORGED) == repr(FORGED)
    for hostile in ("a b", "a=b", "\x1b[31mred", "x\u2028y", "", "'"):
        quoted = quote_for_log(hostile)
        assert quoted.startswith(("'", '"')) and "\n" not in quoted and "\x1b" not in quoted
    long = quote_for_log("A" * 1000)
    assert len(long) < 80 and long.endswith("…'")


async def test_hostile_sids_stay_in_one_record_in_serializer_and_observer(records: list[Any]) -> None:
    serializer = TwilioMediaStreamSerializer()
    await serializer.deserialize(hostile_start())  # (a parser that refuses such SIDs logs that instead)
    await serializer.deserialize(tw.mark(2, "x\nERROR | forged mark"))
    stop = json.loads(tw.stop(3))
    stop["streamSid"] = FORGED
    await serializer.deserialize(json.dumps(stop))
    built_for = TwilioMediaStreamSerializer(stream_sid="MZ2")
    await built_for.deserialize(hostile_start())  # 'start' names another stream: a warning
    # the observer of a serializer whose stream SID is hostile (however it got there)
    observer = MediaStatsObserver(serializer=TwilioMediaStreamSerializer(stream_sid=FORGED))
    observer._log_stats()
    await observer.finish()

    assert len(records) >= 6
    for record in records:
        message = record["message"]
        assert "\n" not in message and "\r" not in message, message
        assert record["level"].name != "ERROR"
    text = "\n".join(r["message"] for r in records)
    assert repr(FORGED) in text  # shown escaped, inside quotes
    assert any(r["message"].startswith("WS_STOP stream='MZ1\\n") for r in records)


async def test_an_unparseable_message_is_logged_in_one_record(records: list[Any]) -> None:
    serializer = TwilioMediaStreamSerializer(stream_sid=tw.STREAM_SID)
    await serializer.deserialize('{"event": "nope\\nERROR | forged"}')
    await serializer.deserialize(b"\xff\xfe\nERROR")
    assert records and all("\n" not in r["message"] for r in records)


def _warn_once_records() -> list[tuple[str, str, str]]:
    from pipecat_twilio_realtime._logsafe import WarnOnce

    records: list[tuple[str, str, str]] = []
    sink = logger.add(
        lambda m: records.append((m.record["level"].name, m.record["message"], m.record["function"]))
    )
    try:
        warn = WarnOnce("Owner#0", level="ERROR")
        warn("a", "first a")
        warn("a", "second a")
        warn("b", "first b")
        warn("b", "second b")
    finally:
        logger.remove(sink)
    return records


def test_warn_once_logs_each_kind_once_at_its_level_then_at_debug() -> None:
    assert [(level, message) for level, message, _ in _warn_once_records()] == [
        ("ERROR", "Owner#0 first a (repeats are logged at debug level)"),
        ("DEBUG", "Owner#0 second a"),
        ("ERROR", "Owner#0 first b (repeats are logged at debug level)"),
        ("DEBUG", "Owner#0 second b"),
    ]


def test_warn_once_lines_name_the_caller_not_the_helper() -> None:
    # Not in the mutation selection: under mutmut the caller one frame up is mutmut's trampoline.
    assert {function for _, _, function in _warn_once_records()} == {"_warn_once_records"}


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "-"),
        ("MZ0123456789abcdef0123456789abcdef", "MZ0123456789abcdef0123456789abcdef"),
        ("a_b.c:d-e", "a_b.c:d-e"),
        ("", "''"),
        ("a b", "'a b'"),
        ("a=b", "'a=b'"),
        (42, "42"),
        ("x" * 64, "x" * 64),
        ("x" * 65, repr("x" * 64 + "…")),
    ],
)
def test_quote_for_log(value: object, shown: str) -> None:
    assert quote_for_log(value) == shown


def test_quote_for_log_limit() -> None:
    assert quote_for_log("abcdef", 6) == "abcdef"
    assert quote_for_log("abcdefg", 6) == repr("abcdef…")
    assert quote_for_log("a b", 2) == repr("a …")


def test_quote_for_log_strings_are_never_converted() -> None:
    class Text(str):
        def __str__(self) -> str:
            return "converted"

    assert quote_for_log(Text("plain")) == "plain"
