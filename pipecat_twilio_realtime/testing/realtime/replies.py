"""A reply's server events, pure: what the stand-in sends for one response, in order.

Each function returns events built by :func:`.events.server_event`; the server sends them, paces
the audio and keeps the conversation state.
"""

from __future__ import annotations

import asyncio
import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ... import g711
from ..clips import CLIP_TEXTS
from .events import server_event
from .usage import item_text, response_usage, text_tokens

__all__ = [
    "NewId",
    "Reply",
    "assistant_item",
    "audio_closing",
    "audio_delta",
    "cancelled_function_call",
    "function_call_arguments",
    "function_call_item",
    "item_closing",
    "pcm24k_from_ulaw",
    "pressed_digit",
    "reply_opening",
    "transcript_delta",
    "transcript_so_far",
]

NewId = Callable[[str], str]
"""Makes a fresh id from a prefix (``"event"`` → ``event_standin000042``)."""

CancelReason = Literal["turn_detected", "client_cancelled"]

_PRESSED = re.compile(r"\bpressed ([0-9*#])\b")


@dataclass(eq=False)
class Reply:
    """One response in progress: its ids, clip and how much audio it has produced."""

    response_id: str
    item_id: str
    clip: str
    task: asyncio.Task[None] | None = None
    sent_bytes: int = 0
    cancel_reason: CancelReason | None = None
    function_call: tuple[str, str, str] | None = None  # (name, call_id, arguments JSON)
    input_audio_ms: float = 0.0  # what went in, for its usage (.usage)
    input_text_tokens: int = 0
    cached_text_tokens: int = 0


def _response(
    reply: Reply, session: dict[str, Any], status: str, item: dict[str, Any] | None
) -> dict[str, Any]:
    output = session["audio"]["output"]
    response: dict[str, Any] = {
        "id": reply.response_id,
        "object": "realtime.response",
        "status": status,
        "status_details": None,
        "output": [item] if item is not None else [],
        "conversation_id": "conv_standin",
        "output_modalities": ["audio"],
        "max_output_tokens": "inf",
        "audio": {
            "output": {
                "format": output.get("format") or {"type": "audio/pcm", "rate": 24000},
                "voice": output.get("voice"),
            }
        },
        "usage": None,
        "metadata": None,
    }
    if status == "cancelled":
        response["status_details"] = {"type": "cancelled", "reason": reply.cancel_reason}
    if status in ("completed", "cancelled"):
        response["usage"] = response_usage(
            input_audio_ms=reply.input_audio_ms,
            input_text_tokens=reply.input_text_tokens,
            cached_text_tokens=reply.cached_text_tokens,
            output_audio_ms=reply.sent_bytes / 8,
            output_text_tokens=text_tokens(item_text(item)),
        )
    return response


def _ids(reply: Reply) -> dict[str, Any]:
    return {"response_id": reply.response_id, "item_id": reply.item_id, "output_index": 0, "content_index": 0}


def assistant_item(reply: Reply, status: str, transcript: str | None) -> dict[str, Any]:
    """The reply's assistant audio message item."""
    return {
        "id": reply.item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_audio", "transcript": transcript}],
    }


def function_call_item(reply: Reply, status: str, arguments: str) -> dict[str, Any]:
    """The reply's function call item (``reply.function_call`` must be set)."""
    assert reply.function_call is not None
    name, call_id, _ = reply.function_call
    return {
        "id": reply.item_id,
        "object": "realtime.item",
        "type": "function_call",
        "status": status,
        "name": name,
        "call_id": call_id,
        "arguments": arguments,
    }


def reply_opening(
    reply: Reply, session: dict[str, Any], item: dict[str, Any], previous: str | None, new_id: NewId
) -> list[dict[str, Any]]:
    """``response.created``, the item added (twice: output and conversation), an audio part added."""
    events = [
        server_event(
            "response.created", new_id("event"), response=_response(reply, session, "in_progress", None)
        ),
        server_event(
            "response.output_item.added",
            new_id("event"),
            response_id=reply.response_id,
            output_index=0,
            item=item,
        ),
        server_event("conversation.item.added", new_id("event"), item=item, previous_item_id=previous),
    ]
    if item["type"] == "message":
        part = {"type": "audio", "transcript": ""}
        events.append(server_event("response.content_part.added", new_id("event"), **_ids(reply), part=part))
    return events


def audio_delta(reply: Reply, delta_b64: str, new_id: NewId) -> dict[str, Any]:
    """One ``response.output_audio.delta``."""
    return server_event("response.output_audio.delta", new_id("event"), delta=delta_b64, **_ids(reply))


def transcript_delta(
    words: list[str], index: int, chunks: int, reply: Reply, new_id: NewId
) -> dict[str, Any] | None:
    """The transcript words that go with audio chunk ``index`` of ``chunks`` (spread evenly), if any."""
    first, last = index * len(words) // chunks, (index + 1) * len(words) // chunks
    if last <= first:
        return None
    delta = (" " if first else "") + " ".join(words[first:last])
    return server_event("response.output_audio_transcript.delta", new_id("event"), delta=delta, **_ids(reply))


def transcript_so_far(reply: Reply, clip_bytes: int, completed: bool) -> str:
    """The whole clip's text, or roughly the part produced so far for a cancelled reply."""
    text = CLIP_TEXTS[reply.clip]
    if completed:
        return text
    words = text.split(" ")
    return " ".join(words[: int(len(words) * reply.sent_bytes / max(1, clip_bytes))])


def audio_closing(reply: Reply, transcript: str, new_id: NewId) -> list[dict[str, Any]]:
    """``response.output_audio.done``, the transcript done, the audio part done."""
    ids = _ids(reply)
    part = {"type": "audio", "transcript": transcript}
    return [
        server_event("response.output_audio.done", new_id("event"), **ids),
        server_event("response.output_audio_transcript.done", new_id("event"), transcript=transcript, **ids),
        server_event("response.content_part.done", new_id("event"), **ids, part=part),
    ]


def function_call_arguments(reply: Reply, new_id: NewId) -> list[dict[str, Any]]:
    """The arguments, sent whole as one delta, then done."""
    assert reply.function_call is not None
    name, call_id, arguments = reply.function_call
    ids = {"response_id": reply.response_id, "item_id": reply.item_id, "output_index": 0, "call_id": call_id}
    return [
        server_event("response.function_call_arguments.delta", new_id("event"), delta=arguments, **ids),
        server_event(
            "response.function_call_arguments.done", new_id("event"), arguments=arguments, name=name, **ids
        ),
    ]


def item_closing(
    reply: Reply, session: dict[str, Any], status: str, item: dict[str, Any], new_id: NewId
) -> list[dict[str, Any]]:
    """The item done (output and conversation), then ``response.done`` carrying it."""
    return [
        server_event(
            "response.output_item.done",
            new_id("event"),
            response_id=reply.response_id,
            output_index=0,
            item=item,
        ),
        server_event("conversation.item.done", new_id("event"), item=item),
        server_event("response.done", new_id("event"), response=_response(reply, session, status, item)),
    ]


def cancelled_function_call(
    reply: Reply, session: dict[str, Any], status: str, new_id: NewId
) -> dict[str, Any]:
    """``response.done`` for a function call cancelled before its item was complete."""
    return server_event("response.done", new_id("event"), response=_response(reply, session, status, None))


def pcm24k_from_ulaw(ulaw: bytes) -> bytes:
    """Decode μ-law and repeat each sample 3× — crude 24 kHz PCM16, for the ``audio/pcm`` misbehaviour."""
    samples = array("h")
    samples.frombytes(g711.decode(ulaw))
    return array("h", (s for s in samples for _ in range(3))).tobytes()


def pressed_digit(item: dict[str, Any]) -> str | None:
    """The key a user text item says was pressed (``"The caller pressed 0."`` → ``"0"``), if any."""
    if item.get("type") != "message" or item.get("role") != "user":
        return None
    for part in item.get("content") or []:
        found = _PRESSED.search(part.get("text") or "") if part.get("type") == "input_text" else None
        if found:
            return found.group(1)
    return None
