"""The one way the stand-in builds a server event: from fields, validated by the SDK's server event models."""

from __future__ import annotations

from typing import Any

import pydantic
from openai.types.realtime import RealtimeServerEvent

__all__ = ["error_event", "server_event"]

_SERVER_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)


def server_event(event_type: str, event_id: str, **fields: Any) -> dict[str, Any]:
    """Build a server event and validate it with its SDK model (a bug here fails loudly).

    Args:
        event_type: The event's ``type``.
        event_id: Its ``event_id``.
        **fields: The rest of the event.

    Returns:
        The event as JSON-ready data, only the fields given (``exclude_unset``).
    """
    model = _SERVER_EVENT.validate_python({"type": event_type, "event_id": event_id, **fields})
    event: dict[str, Any] = model.model_dump(mode="json", exclude_unset=True)
    return event


def error_event(
    event_id: str, message: str, *, code: str, param: str | None = None, client_event_id: str | None = None
) -> dict[str, Any]:
    """Build an ``error`` event (``server_error`` for that code, ``invalid_request_error`` otherwise)."""
    error = {
        "type": "server_error" if code == "server_error" else "invalid_request_error",
        "code": code,
        "message": message,
        "param": param,
        "event_id": client_event_id,
    }
    return server_event("error", event_id, error=error)
