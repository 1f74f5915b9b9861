"""``TokenUsage``: the ``response.done`` usage of a call, summed by kind (input/output, text/audio, cached).

OpenAI bills a Realtime session per response: each ``response.done`` carries its ``usage``
(:class:`openai.types.realtime.RealtimeResponseUsage`); the call's bill is their sum. Cached tokens are a
subset of the input tokens of their modality (``cached_tokens_details.audio_tokens`` ⊂ ``audio_tokens``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from openai.types.realtime import RealtimeResponseUsage

__all__ = ["TokenUsage"]


@dataclass
class TokenUsage:
    """Tokens of a call, summed over its ``response.done`` events.

    Parameters:
        responses: ``response.done`` events that carried usage.
        input_tokens: All input tokens (text, audio and image, cached included).
        output_tokens: All output tokens.
        input_text: Input text tokens (cached included).
        input_audio: Input audio tokens (cached included).
        input_image: Input image tokens (cached included).
        cached_text: Of ``input_text``, those read from the cache.
        cached_audio: Of ``input_audio``, those read from the cache.
        cached_image: Of ``input_image``, those read from the cache.
        output_text: Output text tokens.
        output_audio: Output audio tokens.
    """

    responses: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    input_text: int = 0
    input_audio: int = 0
    input_image: int = 0
    cached_text: int = 0
    cached_audio: int = 0
    cached_image: int = 0
    output_text: int = 0
    output_audio: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def add(self, usage: RealtimeResponseUsage) -> None:
        """Add one response's usage (absent fields count 0).

        Args:
            usage: The ``usage`` of a ``response.done`` event.
        """
        self.responses += 1
        self.input_tokens += usage.input_tokens or 0
        self.output_tokens += usage.output_tokens or 0
        details = usage.input_token_details
        if details is not None:
            self.input_text += details.text_tokens or 0
            self.input_audio += details.audio_tokens or 0
            self.input_image += details.image_tokens or 0
            cached = details.cached_tokens_details
            if cached is not None:
                self.cached_text += cached.text_tokens or 0
                self.cached_audio += cached.audio_tokens or 0
                self.cached_image += cached.image_tokens or 0
        out = usage.output_token_details
        if out is not None:
            self.output_text += out.text_tokens or 0
            self.output_audio += out.audio_tokens or 0

    def add_event_usage(self, usage: Any) -> None:
        """Add the usage of a parsed ``response.done`` of any pydantic shape (e.g. Pipecat's ``Usage``).

        Args:
            usage: A pydantic model or dict with the GA usage fields.
        """
        raw = usage.model_dump() if hasattr(usage, "model_dump") else usage
        self.add(RealtimeResponseUsage.model_validate(raw))

    def by_kind(self) -> dict[str, int]:
        """Tokens by kind, billed separately: uncached input, cached input and output, per modality."""
        return {
            "input_text": self.input_text - self.cached_text,
            "input_audio": self.input_audio - self.cached_audio,
            "input_image": self.input_image - self.cached_image,
            "cached_text": self.cached_text,
            "cached_audio": self.cached_audio,
            "cached_image": self.cached_image,
            "output_text": self.output_text,
            "output_audio": self.output_audio,
        }

    def as_dict(self) -> dict[str, Any]:
        """The sums as a plain dict (with ``total_tokens``)."""
        return {**asdict(self), "total_tokens": self.total_tokens}
