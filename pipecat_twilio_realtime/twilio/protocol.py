"""Twilio Media Streams wire protocol: a pure core (no Pipecat, no asyncio, no logging).

Inbound JSON text messages are parsed into frozen, typed events; the three
outbound messages Twilio accepts on a bidirectional stream (``media``, ``mark``,
``clear``) are built with exactly the documented keys and nothing more. Twilio
rejects any other shape with debugger error 31951 and then plays nothing, or
noise: the builders here are the only place outbound JSON is written.

Everything wrong with an inbound message raises :class:`TwilioProtocolError`
with a short machine-readable ``reason`` and a sentence naming what was wrong.
No other exception escapes :func:`parse_message` (the fuzz tests check this).

Reference: https://www.twilio.com/docs/voice/media-streams/websocket-messages
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, TypeAlias

__all__ = [
    "EXPECTED_MEDIA_FORMAT",
    "MAX_MESSAGE_BYTES",
    "Connected",
    "Dtmf",
    "InboundEvent",
    "Mark",
    "Media",
    "MediaFormat",
    "SequenceTracker",
    "Start",
    "Stop",
    "TwilioProtocolError",
    "build_clear",
    "build_mark",
    "build_media",
    "parse_message",
]

MAX_MESSAGE_BYTES: Final = 64 * 1024
"""Largest inbound message accepted. A real 20 ms ``media`` message is ~250 bytes and
a ``start`` with a few custom parameters under 2 KB; anything near this is hostile."""


class TwilioProtocolError(ValueError):
    """An inbound Twilio message that cannot be used (the peer's fault, not ours).

    Attributes:
        reason: A short stable code: ``too_large``, ``not_text``, ``bad_json``,
            ``not_object``, ``unknown_event``, ``missing_field``, ``bad_field``,
            ``bad_base64``, ``empty_payload``, ``bad_media_format`` or ``bad_sid``.
        event: The message's ``event`` value when it was readable, else ``None``.
    """

    def __init__(self, reason: str, detail: str, *, event: str | None = None) -> None:
        """Initialize the error.

        Args:
            reason: Short stable code (see class docstring).
            detail: A sentence naming what was wrong.
            event: The message's ``event`` value, when known.
        """
        super().__init__(detail)
        self.reason = reason
        self.event = event


@dataclass(frozen=True, slots=True)
class MediaFormat:
    """The ``start.mediaFormat`` block: what Twilio will send and expects back."""

    encoding: str
    sample_rate: int
    channels: int


EXPECTED_MEDIA_FORMAT: Final = MediaFormat("audio/x-mulaw", 8000, 1)
"""The only format a bidirectional Media Stream uses: G.711 μ-law, 8000 Hz, mono."""


@dataclass(frozen=True, slots=True)
class Connected:
    """``connected``: the first message on the socket, before ``start``."""

    protocol: str
    version: str


@dataclass(frozen=True, slots=True)
class Start:
    """``start``: stream metadata. Unauthenticated: do not trust ``call_sid`` for REST calls."""

    sequence_number: int
    stream_sid: str
    account_sid: str
    call_sid: str
    tracks: tuple[str, ...]
    media_format: MediaFormat
    custom_parameters: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Media:
    """``media``: one chunk of caller audio, already base64-decoded to μ-law bytes."""

    sequence_number: int
    stream_sid: str
    track: str
    chunk: int
    timestamp_ms: int | None
    """Twilio's stream clock: ms from the stream's start to this chunk (``None`` if the message has none)."""
    payload: bytes


@dataclass(frozen=True, slots=True)
class Dtmf:
    """``dtmf``: a key the caller pressed."""

    sequence_number: int
    stream_sid: str
    track: str
    digit: str


@dataclass(frozen=True, slots=True)
class Mark:
    """``mark``: Twilio's echo of a mark we sent (played, or flushed by a ``clear``)."""

    sequence_number: int
    stream_sid: str
    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    """``stop``: the stream ended (the call hung up or the stream was stopped)."""

    sequence_number: int
    stream_sid: str
    account_sid: str
    call_sid: str


InboundEvent: TypeAlias = Connected | Start | Media | Dtmf | Mark | Stop


# ---------------------------------------------------------------------------------------------
# Parsing helpers: each names the JSON path that was wrong.


def _obj(parent: Mapping[str, Any], key: str, path: str, event: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if value is None:
        raise TwilioProtocolError("missing_field", f"{event}: missing '{path}'", event=event)
    if not isinstance(value, dict):
        raise TwilioProtocolError(
            "bad_field", f"{event}: '{path}' must be an object, got {type(value).__name__}", event=event
        )
    return value


def _str(parent: Mapping[str, Any], key: str, path: str, event: str) -> str:
    value = parent.get(key)
    if value is None:
        raise TwilioProtocolError("missing_field", f"{event}: missing '{path}'", event=event)
    if not isinstance(value, str):
        raise TwilioProtocolError(
            "bad_field", f"{event}: '{path}' must be a string, got {type(value).__name__}", event=event
        )
    return value


def _int(parent: Mapping[str, Any], key: str, path: str, event: str) -> int:
    """Twilio sends counters as decimal strings; accept ints too, reject anything else."""
    value = parent.get(key)
    if value is None:
        raise TwilioProtocolError("missing_field", f"{event}: missing '{path}'", event=event)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TwilioProtocolError(
            "bad_field", f"{event}: '{path}' must be a number, got {type(value).__name__}", event=event
        )
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()) or len(value) > 18:
            raise TwilioProtocolError(
                "bad_field", f"{event}: '{path}' must be a decimal number, got {value[:20]!r}", event=event
            )
        return int(value)
    if value < 0:
        raise TwilioProtocolError("bad_field", f"{event}: '{path}' must not be negative", event=event)
    return value


_SID_SHAPES: Final = {prefix: re.compile(prefix + r"[0-9a-fA-F]{32}") for prefix in ("MZ", "CA", "AC")}
"""Twilio SIDs: a two-letter type prefix and 32 hex digits (Twilio sends lower case; its API spec
allows either case). ``MZ`` is a stream, ``CA`` a call, ``AC`` an account."""


def _sid(parent: Mapping[str, Any], key: str, path: str, event: str, prefix: str) -> str:
    """A string field that must be a well-formed Twilio SID starting with ``prefix``."""
    value = _str(parent, key, path, event)
    if _SID_SHAPES[prefix].fullmatch(value) is None:
        raise TwilioProtocolError(
            "bad_sid",
            f"{event}: '{path}' is not a {prefix} SID ({prefix} + 32 hex digits), got {value[:12]!r}"
            + (f" ({len(value)} characters)" if len(value) > 12 else ""),
            event=event,
        )
    return value


def _stream_sid(msg: Mapping[str, Any], event: str) -> str:
    return _sid(msg, "streamSid", "streamSid", event, "MZ")


def _media_format(start: Mapping[str, Any]) -> MediaFormat:
    raw = _obj(start, "mediaFormat", "start.mediaFormat", "start")
    fmt = MediaFormat(
        encoding=_str(raw, "encoding", "start.mediaFormat.encoding", "start"),
        sample_rate=_int(raw, "sampleRate", "start.mediaFormat.sampleRate", "start"),
        channels=_int(raw, "channels", "start.mediaFormat.channels", "start"),
    )
    if fmt != EXPECTED_MEDIA_FORMAT:
        raise TwilioProtocolError(
            "bad_media_format",
            f"start: mediaFormat is {fmt.encoding} {fmt.sample_rate} Hz {fmt.channels} ch, "
            f"expected {EXPECTED_MEDIA_FORMAT.encoding} {EXPECTED_MEDIA_FORMAT.sample_rate} Hz mono",
            event="start",
        )
    return fmt


def _parse_start(msg: Mapping[str, Any]) -> Start:
    start = _obj(msg, "start", "start", "start")
    tracks = start.get("tracks", [])
    if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
        raise TwilioProtocolError(
            "bad_field", "start: 'start.tracks' must be a list of strings", event="start"
        )
    params = start.get("customParameters") or {}
    if not isinstance(params, dict):
        raise TwilioProtocolError(
            "bad_field", "start: 'start.customParameters' must be an object", event="start"
        )
    # Twilio sends the stream SID at both levels; either alone is enough, but two must agree.
    stream_sids = {
        _sid(where, "streamSid", path, "start", "MZ")
        for where, path in ((msg, "streamSid"), (start, "start.streamSid"))
        if where.get("streamSid") is not None
    }
    if not stream_sids:
        raise TwilioProtocolError("missing_field", "start: missing 'streamSid'", event="start")
    if len(stream_sids) > 1:
        raise TwilioProtocolError("bad_sid", "start: 'streamSid' and 'start.streamSid' differ", event="start")
    return Start(
        sequence_number=_int(msg, "sequenceNumber", "sequenceNumber", "start"),
        stream_sid=stream_sids.pop(),
        account_sid=_sid(start, "accountSid", "start.accountSid", "start", "AC"),
        call_sid=_sid(start, "callSid", "start.callSid", "start", "CA"),
        tracks=tuple(tracks),
        media_format=_media_format(start),
        custom_parameters=MappingProxyType({str(k): str(v) for k, v in params.items()}),
    )


def _parse_media(msg: Mapping[str, Any]) -> Media:
    media = _obj(msg, "media", "media", "media")
    encoded = _str(media, "payload", "media.payload", "media")
    try:
        payload = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as e:
        raise TwilioProtocolError(
            "bad_base64", f"media: 'media.payload' is not valid base64 ({e})", event="media"
        ) from None
    if not payload:
        # μ-law 8 kHz mono is one byte per sample, so every non-empty payload is whole samples.
        raise TwilioProtocolError("empty_payload", "media: 'media.payload' holds no samples", event="media")
    return Media(
        sequence_number=_int(msg, "sequenceNumber", "sequenceNumber", "media"),
        stream_sid=_stream_sid(msg, "media"),
        track=_str(media, "track", "media.track", "media") if "track" in media else "inbound",
        chunk=_int(media, "chunk", "media.chunk", "media") if "chunk" in media else 0,
        timestamp_ms=_int(media, "timestamp", "media.timestamp", "media") if "timestamp" in media else None,
        payload=payload,
    )


def _parse_dtmf(msg: Mapping[str, Any]) -> Dtmf:
    dtmf = _obj(msg, "dtmf", "dtmf", "dtmf")
    digit = _str(dtmf, "digit", "dtmf.digit", "dtmf")
    if len(digit) != 1 or digit not in "0123456789*#ABCD":
        raise TwilioProtocolError(
            "bad_field", f"dtmf: 'dtmf.digit' {digit[:8]!r} is not a DTMF key", event="dtmf"
        )
    return Dtmf(
        sequence_number=_int(msg, "sequenceNumber", "sequenceNumber", "dtmf"),
        stream_sid=_stream_sid(msg, "dtmf"),
        track=_str(dtmf, "track", "dtmf.track", "dtmf") if "track" in dtmf else "inbound_track",
        digit=digit,
    )


def _parse_mark(msg: Mapping[str, Any]) -> Mark:
    mark = _obj(msg, "mark", "mark", "mark")
    return Mark(
        sequence_number=_int(msg, "sequenceNumber", "sequenceNumber", "mark"),
        stream_sid=_stream_sid(msg, "mark"),
        name=_str(mark, "name", "mark.name", "mark"),
    )


def _parse_stop(msg: Mapping[str, Any]) -> Stop:
    stop = msg.get("stop")
    if stop is not None and not isinstance(stop, dict):
        raise TwilioProtocolError("bad_field", "stop: 'stop' must be an object", event="stop")
    stop = stop or {}
    return Stop(
        sequence_number=_int(msg, "sequenceNumber", "sequenceNumber", "stop"),
        stream_sid=_stream_sid(msg, "stop"),
        # The block is optional; when its SIDs are there they must be well formed.
        account_sid=_sid(stop, "accountSid", "stop.accountSid", "stop", "AC") if "accountSid" in stop else "",
        call_sid=_sid(stop, "callSid", "stop.callSid", "stop", "CA") if "callSid" in stop else "",
    )


def _parse_connected(msg: Mapping[str, Any]) -> Connected:
    return Connected(protocol=str(msg.get("protocol", "")), version=str(msg.get("version", "")))


_PARSERS: dict[str, Callable[[Mapping[str, Any]], InboundEvent]] = {
    "connected": _parse_connected,
    "start": _parse_start,
    "media": _parse_media,
    "dtmf": _parse_dtmf,
    "mark": _parse_mark,
    "stop": _parse_stop,
}


def parse_message(data: str | bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> InboundEvent:
    """Parse one inbound Twilio Media Streams websocket message.

    Args:
        data: The websocket message (Twilio sends text frames; bytes are decoded as UTF-8).
        max_bytes: Largest message accepted.

    Returns:
        The typed event.

    Raises:
        TwilioProtocolError: If the message is oversized, not UTF-8, not JSON, not an
            object, has an unknown ``event``, misses a field, has a field of the wrong
            type, bad base64, an empty payload, a ``mediaFormat`` other than μ-law
            8000 Hz mono, or a stream/call/account SID that is not a Twilio SID
            (``bad_sid``).
    """
    size = len(data)
    if size <= max_bytes and isinstance(data, str) and not data.isascii():
        # A text message's size on the wire is its UTF-8 length (up to 4 bytes per character).
        size = len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise TwilioProtocolError("too_large", f"message of {size} bytes exceeds the {max_bytes}-byte cap")
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise TwilioProtocolError("not_text", "binary message is not UTF-8 text") from None
    try:
        msg = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise TwilioProtocolError("bad_json", f"message is not valid JSON ({str(e)[:80]})") from None
    if not isinstance(msg, dict):
        raise TwilioProtocolError("not_object", f"message is a JSON {type(msg).__name__}, not an object")
    event = msg.get("event")
    parser = _PARSERS.get(event) if isinstance(event, str) else None
    if parser is None:
        shown = event[:40] if isinstance(event, str) else event
        raise TwilioProtocolError(
            "unknown_event", f"unknown event {shown!r}", event=event if isinstance(event, str) else None
        )
    return parser(msg)


# ---------------------------------------------------------------------------------------------
# Outbound: exactly the documented keys.


def build_media(stream_sid: str, ulaw: bytes) -> str:
    """Build an outbound ``media`` message: ``{"event","streamSid","media":{"payload"}}``.

    Args:
        stream_sid: The stream's SID from ``start``.
        ulaw: μ-law 8000 Hz mono audio bytes (not PCM).

    Returns:
        The JSON text to send.
    """
    payload = base64.b64encode(ulaw).decode("ascii")
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def build_mark(stream_sid: str, name: str) -> str:
    """Build an outbound ``mark`` message: ``{"event","streamSid","mark":{"name"}}``.

    Args:
        stream_sid: The stream's SID from ``start``.
        name: The label Twilio will echo back once the audio before it has played.

    Returns:
        The JSON text to send.
    """
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def build_clear(stream_sid: str) -> str:
    """Build an outbound ``clear`` message: ``{"event","streamSid"}``.

    Args:
        stream_sid: The stream's SID from ``start``.

    Returns:
        The JSON text to send.
    """
    return json.dumps({"event": "clear", "streamSid": stream_sid})


# ---------------------------------------------------------------------------------------------
# Outbound, read back: what Twilio accepts from a bot, checked as strictly as Twilio does.

__all__ += ["OutboundClear", "OutboundMark", "OutboundMedia", "OutboundMessage", "parse_outbound"]


@dataclass(frozen=True, slots=True)
class OutboundMedia:
    """An outbound ``media`` message: μ-law audio for the caller (base64-decoded)."""

    stream_sid: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class OutboundMark:
    """An outbound ``mark`` message: a label Twilio echoes once the audio before it has played."""

    stream_sid: str
    name: str


@dataclass(frozen=True, slots=True)
class OutboundClear:
    """An outbound ``clear`` message: drop the audio Twilio has queued."""

    stream_sid: str


OutboundMessage: TypeAlias = OutboundMedia | OutboundMark | OutboundClear

_OUTBOUND_KEYS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "media": frozenset({"event", "streamSid", "media"}),
        "mark": frozenset({"event", "streamSid", "mark"}),
        "clear": frozenset({"event", "streamSid"}),
    }
)
_OUTBOUND_INNER_KEY: Final[Mapping[str, str]] = MappingProxyType({"media": "payload", "mark": "name"})


def _exact_keys(found: Mapping[str, Any], wanted: frozenset[str], what: str, event: str) -> None:
    if set(found) != wanted:
        reason = "unexpected_field" if set(found) - wanted else "missing_field"
        raise TwilioProtocolError(
            reason, f"{what}: keys {sorted(found)} instead of {sorted(wanted)}", event=event
        )


def _outbound_inner(msg: Mapping[str, Any], event: str) -> str:
    """The one value inside ``media``/``mark``: exactly ``{key: string}``."""
    key = _OUTBOUND_INNER_KEY[event]
    inner = msg[event]
    if not isinstance(inner, dict) or set(inner) != {key}:
        reason = "bad_field" if not isinstance(inner, dict) else "missing_field"
        if isinstance(inner, dict) and key in inner:
            reason = "unexpected_field"
        raise TwilioProtocolError(reason, f"{event}: '{event}' must be exactly ['{key}']", event=event)
    value = inner[key]
    if not isinstance(value, str):
        raise TwilioProtocolError("bad_field", f"{event}: {key} is not a string", event=event)
    return value


def parse_outbound(data: str | bytes) -> OutboundMessage:
    """Parse one bot → Twilio message, accepting only the shapes :func:`build_media` & co. write.

    Exactly ``{"event":"media","streamSid":S,"media":{"payload":B64}}``,
    ``{"event":"mark","streamSid":S,"mark":{"name":N}}`` or ``{"event":"clear","streamSid":S}``:
    Twilio rejects anything else (debugger error 31951). Whether ``streamSid`` is the right
    stream is the caller's to check.

    Args:
        data: The websocket message (Twilio accepts text frames only).

    Returns:
        The typed message.

    Raises:
        TwilioProtocolError: With ``reason`` ``not_text``, ``bad_json``, ``not_object``,
            ``unknown_event``, ``missing_field``, ``unexpected_field``, ``bad_field`` or ``bad_base64``.
    """
    if not isinstance(data, str):
        raise TwilioProtocolError("not_text", "binary websocket frame (Twilio expects JSON text)")
    try:
        msg = json.loads(data)
    except (ValueError, RecursionError):
        raise TwilioProtocolError("bad_json", f"not JSON: {data[:40]!r}") from None
    if not isinstance(msg, dict):
        raise TwilioProtocolError("not_object", "not a JSON object")
    event = msg.get("event")
    keys = _OUTBOUND_KEYS.get(event) if isinstance(event, str) else None
    if keys is None or not isinstance(event, str):
        raise TwilioProtocolError("unknown_event", f"unknown event {str(event)[:40]!r}")
    _exact_keys(msg, keys, event, event)
    stream_sid = _str(msg, "streamSid", "streamSid", event)
    if event == "clear":
        return OutboundClear(stream_sid)
    value = _outbound_inner(msg, event)
    if event == "mark":
        return OutboundMark(stream_sid, value)
    try:
        return OutboundMedia(stream_sid, base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        raise TwilioProtocolError("bad_base64", "media: payload is not valid base64", event=event) from None


class SequenceTracker:
    """Counts gaps, duplicates and reorderings in Twilio's ``sequenceNumber`` (shared by all events)."""

    __slots__ = ("gaps", "last", "missing", "out_of_order")

    def __init__(self) -> None:
        """Initialize an empty tracker."""
        self.last: int | None = None
        self.gaps = 0
        self.missing = 0
        self.out_of_order = 0

    def observe(self, sequence_number: int) -> int:
        """Record one sequence number.

        Args:
            sequence_number: The message's ``sequenceNumber``.

        Returns:
            How many numbers were skipped before this one (0 when in order), or -1
            when it is a duplicate or arrives out of order.
        """
        if self.last is None:
            self.last = sequence_number
            return 0
        if sequence_number <= self.last:
            self.out_of_order += 1
            return -1
        skipped = sequence_number - self.last - 1
        self.last = sequence_number
        if skipped:
            self.gaps += 1
            self.missing += skipped
        return skipped
