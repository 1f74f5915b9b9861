"""Session state, pure: the initial session, how ``session.update`` merges, what is confirmed."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from openai.types.realtime import RealtimeSessionCreateResponse

__all__ = [
    "BYTES_PER_MS",
    "DEFAULT_TURN_DETECTION",
    "PCM_24K",
    "SessionRecord",
    "confirmed_session",
    "format_type",
    "initial_session",
    "merge_update",
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
    a ``server_vad`` gets its defaults filled in, an ``audio/pcm`` format its 24 kHz rate
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
