"""The stand-in's token counts, pure: a ``response.done`` ``usage`` from how much audio and text went in/out.

The rule (``docs/standin.md``, "Usage"): 1 input audio token per 100 ms of caller audio committed since the
previous response, 1 output audio token per 50 ms of reply audio produced, 1 text token per 4 characters
of text (the session's instructions and text items in, the transcript or function call out). From a
connection's second response on, the instructions are read from the cache (cached text tokens).
"""

from __future__ import annotations

import math
from typing import Any

from openai.types.realtime import RealtimeResponseUsage

__all__ = [
    "INPUT_AUDIO_MS_PER_TOKEN",
    "OUTPUT_AUDIO_MS_PER_TOKEN",
    "TEXT_CHARS_PER_TOKEN",
    "audio_tokens",
    "item_text",
    "response_usage",
    "text_tokens",
]

INPUT_AUDIO_MS_PER_TOKEN = 100
"""Caller audio per input audio token (OpenAI bills about 1 token per 100 ms)."""

OUTPUT_AUDIO_MS_PER_TOKEN = 50
"""Reply audio per output audio token (about 1 token per 50 ms)."""

TEXT_CHARS_PER_TOKEN = 4
"""Characters per text token (the usual rule of thumb for English)."""


def text_tokens(text: str | None) -> int:
    """Text tokens of ``text``: one per :data:`TEXT_CHARS_PER_TOKEN` characters, rounded up."""
    return math.ceil(len(text) / TEXT_CHARS_PER_TOKEN) if text else 0


def audio_tokens(ms: float, ms_per_token: int) -> int:
    """Audio tokens of ``ms`` milliseconds at ``ms_per_token``, rounded to the nearest token."""
    return round(ms / ms_per_token) if ms > 0 else 0


def item_text(item: dict[str, Any] | None) -> str:
    """The text an item carries: message text/transcripts, a function call's name and arguments, an output."""
    if not item:
        return ""
    if item.get("type") == "function_call":
        return f"{item.get('name') or ''}{item.get('arguments') or ''}"
    if item.get("type") == "function_call_output":
        return str(item.get("output") or "")
    parts = [c.get("text") or c.get("transcript") or "" for c in item.get("content") or []]
    return " ".join(p for p in parts if p)


def response_usage(
    *,
    input_audio_ms: float,
    input_text_tokens: int,
    cached_text_tokens: int,
    output_audio_ms: float,
    output_text_tokens: int,
) -> dict[str, Any]:
    """A ``response.done`` ``usage`` in the GA shape, validated by the SDK's ``RealtimeResponseUsage``.

    Args:
        input_audio_ms: Caller audio committed for this response.
        input_text_tokens: Text tokens in (instructions and text items), cached ones included.
        cached_text_tokens: Of those, the ones read from the cache.
        output_audio_ms: Reply audio produced.
        output_text_tokens: Text tokens out (transcript, function call).

    Returns:
        The usage as JSON-ready data, every field and detail object present.
    """
    audio_in = audio_tokens(input_audio_ms, INPUT_AUDIO_MS_PER_TOKEN)
    audio_out = audio_tokens(output_audio_ms, OUTPUT_AUDIO_MS_PER_TOKEN)
    cached = min(cached_text_tokens, input_text_tokens)
    tokens_in = audio_in + input_text_tokens
    tokens_out = audio_out + output_text_tokens
    usage = RealtimeResponseUsage.model_validate(
        {
            "total_tokens": tokens_in + tokens_out,
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "input_token_details": {
                "text_tokens": input_text_tokens,
                "audio_tokens": audio_in,
                "image_tokens": 0,
                "cached_tokens": cached,
                "cached_tokens_details": {"text_tokens": cached, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": output_text_tokens, "audio_tokens": audio_out},
        }
    )
    data: dict[str, Any] = usage.model_dump(mode="json")
    return data
