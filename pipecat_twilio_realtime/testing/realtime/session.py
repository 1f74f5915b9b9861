"""Session state, pure: the initial session, how ``session.update`` merges, what is confirmed."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from openai.types.realtime import RealtimeSessionCreateResponse

__all__ = [
    "BYTES_PER_MS",
    "DEFAULT_SEMANTIC_VAD",
    "DEFAULT_TURN_DETECTION",
    "MODELLED_FIELDS",
    "PCM_24K",
    "SessionRecord",
    "confirmed_session",
    "format_type",
    "initial_session",
    "merge_update",
    "unmodelled_fields",
]

BYTES_PER_MS = {"audio/pcmu": 8, "audio/pcma": 8, "audio/pcm": 48}
"""Bytes per millisecond of each GA audio format (μ-law/A-law 8 kHz × 1 byte; PCM16 24 kHz × 2)."""

PCM_24K: dict[str, Any] = {"type": "audio/pcm", "rate": 24000}
"""The server's default audio format, both ways."""

DEFAULT_TURN_DETECTION: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}

DEFAULT_SEMANTIC_VAD: dict[str, Any] = {
    "type": "semantic_vad",
    "eagerness": "auto",
    "create_response": True,
    "interrupt_response": True,
}

MODELLED_FIELDS = frozenset(
    {
        "type",
        "model",
        "audio.input.format",
        "audio.output.format",
        "audio.input.turn_detection",  # null: turn detection off
        "audio.input.turn_detection.type",
        "audio.input.turn_detection.threshold",
        "audio.input.turn_detection.prefix_padding_ms",
        "audio.input.turn_detection.silence_duration_ms",
        "audio.input.turn_detection.create_response",
        "audio.input.turn_detection.interrupt_response",
        "audio.input.turn_detection.eagerness",
        # Content the stand-in replaces with its clips: accepted and echoed, no warning.
        "instructions",
        "audio.output.voice",
        "tools",
        "tool_choice",
        "tracing",
        "prompt",
        "include",
    }
)
"""``session.update`` fields (dotted paths) the stand-in models, or accepts as content it replaces."""

_CONTAINERS = frozenset({"", "audio", "audio.input", "audio.output", "audio.input.turn_detection"})


def unmodelled_fields(update: dict[str, Any]) -> list[tuple[str, Any]]:
    """The fields of a ``session.update``'s ``session`` the stand-in does not model, with their values.

    A field set to the server's default value (e.g. ``audio.output.speed: 1.0``, ``noise_reduction: null``)
    changes nothing and is not reported.

    Args:
        update: The ``session`` object of a ``session.update``.

    Returns:
        ``(dotted path, value)`` pairs, in the update's order.
    """
    defaults = initial_session("/", "", "", 0)
    defaults["audio"]["input"]["turn_detection"] = {**DEFAULT_TURN_DETECTION, **DEFAULT_SEMANTIC_VAD}
    found: list[tuple[str, Any]] = []

    def walk(value: Any, default: Any, path: str) -> None:
        if isinstance(value, dict) and path in _CONTAINERS:
            for key, child in value.items():
                child_default = default.get(key) if isinstance(default, dict) else None
                walk(child, child_default, f"{path}.{key}" if path else key)
        elif path not in MODELLED_FIELDS and value != default:
            found.append((path, value))

    walk(update, defaults, "")
    return found


def initial_session(path: str, model: str, session_id: str, expires_at: int) -> dict[str, Any]:
    """The session a new connection starts with; the URL's ``model`` query overrides ``model``."""
    if "?" in path:
        for part in path.split("?", 1)[1].split("&"):
            key, _, value = part.partition("=")
            if key == "model" and value:
                model = value
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "expires_at": expires_at,
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "include": None,
        "audio": {
            "input": {
                "format": dict(PCM_24K),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": dict(DEFAULT_TURN_DETECTION),
            },
            "output": {"format": dict(PCM_24K), "voice": "marin", "speed": 1.0},
        },
    }


def merge_update(session: dict[str, Any], update: dict[str, Any]) -> None:
    """Merge a ``session.update``'s ``session`` into ``session`` as the real server does.

    ``audio.input``/``audio.output`` merge key by key, other keys replace (``model`` is fixed),
    a ``server_vad`` or ``semantic_vad`` gets its defaults filled in, an ``audio/pcm`` format its 24 kHz rate
    (written into ``update`` too, as before).
    """
    for direction in ("input", "output"):
        fmt = ((update.get("audio") or {}).get(direction) or {}).get("format")
        if isinstance(fmt, dict) and fmt.get("type", "audio/pcm") == "audio/pcm":
            fmt.setdefault("type", "audio/pcm")
            fmt.setdefault("rate", 24000)
    for key, value in update.items():
        if key == "audio" and isinstance(value, dict):
            for direction, settings in value.items():
                if isinstance(settings, dict):
                    session["audio"].setdefault(direction, {}).update(settings)
        elif key != "model":
            session[key] = value
    turn = session["audio"]["input"].get("turn_detection")
    if turn is not None and turn.get("type") == "server_vad":
        session["audio"]["input"]["turn_detection"] = {**DEFAULT_TURN_DETECTION, **turn}
    elif turn is not None and turn.get("type") == "semantic_vad":
        session["audio"]["input"]["turn_detection"] = {**DEFAULT_SEMANTIC_VAD, **turn}


def confirmed_session(
    session: dict[str, Any], *, output_format: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The session as ``session.created``/``session.updated`` carry it, validated by the SDK's model.

    Args:
        session: The tracked session (not modified).
        output_format: Confirm this output format instead of the session's (a misbehaviour).
    """
    confirmed = copy.deepcopy(session)
    if output_format is not None:
        confirmed["audio"]["output"]["format"] = dict(output_format)
    dumped: dict[str, Any] = RealtimeSessionCreateResponse.model_validate(confirmed).model_dump(
        mode="json", exclude_unset=True
    )
    return dumped


def format_type(session: dict[str, Any], direction: Literal["input", "output"]) -> str:
    """The session's audio format type for one direction (``audio/pcm`` when unset)."""
    fmt = session["audio"][direction].get("format") or {}
    return str(fmt.get("type") or "audio/pcm")


@dataclass
class SessionRecord:
    """What one connection to the stand-in received and sent (one per websocket accepted).

    Parameters:
        path: The request path (with its query).
        received: Every client event of this connection, parsed JSON, in order.
        sent: Every server event sent on it, in order.
    """

    path: str
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def received_of(self, event_type: str) -> list[dict[str, Any]]:
        """The client events of one type this connection received."""
        return [event for event in self.received if event.get("type") == event_type]
