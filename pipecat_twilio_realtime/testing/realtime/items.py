"""Conversation items, pure: create, delete, retrieve, truncate — the checks the real server makes.

Each function takes the connection's item table and returns what the server sends back; a request the
real server would refuse raises :class:`~.validation.EventRejected` with the real server's message.
"""

from __future__ import annotations

from typing import Any

from .validation import EventRejected

__all__ = ["create_item", "delete_item", "find_item", "truncate_limit", "user_audio_item"]


def find_item(items: dict[str, dict[str, Any]], item_id: str, *, role: str | None = None) -> dict[str, Any]:
    """The item, or the server's ``item_not_found`` error."""
    item = items.get(item_id)
    if item is None or (role is not None and item.get("role") != role):
        raise EventRejected(f"Item with item_id not found: {item_id}", code="item_not_found", param="item_id")
    return item


def create_item(items: dict[str, dict[str, Any]], data: dict[str, Any], new_id: str) -> dict[str, Any]:
    """The item a ``conversation.item.create`` adds (not yet stored), ids filled in as the server does."""
    item = dict(data["item"])
    item.setdefault("id", new_id)
    item["object"] = "realtime.item"
    item.setdefault("status", "completed")
    if item["id"] in items:
        raise EventRejected(
            f"Item with id '{item['id']}' already exists", code="item_exists", param="item.id"
        )
    return item


def delete_item(items: dict[str, dict[str, Any]], item_id: str) -> None:
    """Remove an item (``conversation.item.delete``)."""
    find_item(items, item_id)
    del items[item_id]


def truncate_limit(
    items: dict[str, dict[str, Any]], data: dict[str, Any], produced_ms: int, truncated_ms: int | None
) -> int:
    """Check a ``conversation.item.truncate`` and return its ``audio_end_ms``.

    Args:
        items: The item table.
        data: The client event.
        produced_ms: Audio sent for the item.
        truncated_ms: Where an earlier truncate cut it (the new limit), if any.
    """
    find_item(items, data["item_id"], role="assistant")
    if data["content_index"] != 0:
        raise EventRejected(
            f"Content index {data['content_index']} out of range", code="invalid_value", param="content_index"
        )
    limit = truncated_ms if truncated_ms is not None else produced_ms
    audio_end_ms: int = data["audio_end_ms"]
    if audio_end_ms > limit:
        raise EventRejected(
            f"Audio content of {limit}ms is already shorter than {audio_end_ms}ms",
            code="invalid_value",
            param="audio_end_ms",
        )
    return audio_end_ms


def user_audio_item(item_id: str) -> dict[str, Any]:
    """The user item a committed audio buffer becomes (no input transcription is modelled)."""
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_audio", "transcript": None}],
    }
