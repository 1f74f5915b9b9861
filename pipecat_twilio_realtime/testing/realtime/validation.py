"""Strict validation of Realtime client events against the ``openai`` SDK's models.

The SDK models accept unknown fields (``extra="allow"``), so validation alone lets misspelt or
invented fields through; :func:`validate_client_event` also rejects any field the SDK does not declare.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

import pydantic
from openai.types.realtime import RealtimeClientEvent

__all__ = ["CLIENT_EVENT_MODELS", "EventRejected", "extra_field_paths", "validate_client_event"]

CLIENT_EVENT_MODELS: dict[str, type[pydantic.BaseModel]] = {
    typing.get_args(model.model_fields["type"].annotation)[0]: model
    for model in typing.get_args(typing.get_args(RealtimeClientEvent)[0])
}
"""Client event ``type`` → its SDK model, taken from the ``RealtimeClientEvent`` union itself."""


class EventRejected(Exception):
    """A client event the real server would reject; becomes an ``error`` event."""

    def __init__(self, message: str, *, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param


def extra_field_paths(value: Any, path: str = "") -> Iterator[str]:
    """Yield the dotted path of every undeclared field in a parsed SDK model tree.

    Args:
        value: A parsed model, or a list/dict/scalar inside one.
        path: The path of ``value`` so far.

    Yields:
        Paths such as ``session.audio.input.format.rate_x``.
    """
    if isinstance(value, pydantic.BaseModel):
        for key in value.__pydantic_extra__ or {}:
            yield f"{path}.{key}" if path else key
        for name in type(value).model_fields:
            yield from extra_field_paths(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from extra_field_paths(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from extra_field_paths(item, f"{path}.{key}" if path else str(key))


def validate_client_event(data: dict[str, Any]) -> pydantic.BaseModel:
    """Parse a client event with its SDK model, rejecting unknown types and undeclared fields.

    Raises:
        EventRejected: With the code and message the real server would use.
    """
    event_type = data.get("type")
    model = CLIENT_EVENT_MODELS.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        raise EventRejected(
            f"Invalid value: {event_type!r}. Supported values are: {', '.join(sorted(CLIENT_EVENT_MODELS))}.",
            code="invalid_value",
            param="type",
        )
    try:
        event = model.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"])
        raise EventRejected(
            f"Invalid {event_type} event: {param}: {first['msg']} ({exc.error_count()} error(s))",
            code="invalid_value",
            param=param,
        ) from None
    extras = list(extra_field_paths(event))
    if extras:
        raise EventRejected(
            f"Unknown parameter: '{extras[0]}'."
            + (f" (also: {', '.join(extras[1:])})" if extras[1:] else ""),
            code="unknown_parameter",
            param=extras[0],
        )
    return event
