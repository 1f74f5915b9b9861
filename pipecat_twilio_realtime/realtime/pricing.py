"""Realtime prices per model and a call's estimated cost from its :class:`~.usage.TokenUsage`.

The defaults are OpenAI's list prices in USD per 1M tokens, read on :data:`PRICES_AS_OF` from the model
pages under :data:`PRICES_SOURCE` (e.g. ``…/models/gpt-realtime-2``, ``…/models/gpt-realtime-mini``).
Prices change: pass your own table (``OpenAIRealtimeMuLawLLMService(prices=…)``) rather than trusting
these for billing. The estimate is what the tokens cost at those prices, not an invoice (input
transcription, billed by another model, is not in ``response.done`` usage).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .usage import TokenUsage

__all__ = ["DEFAULT_PRICES", "PRICES_AS_OF", "PRICES_SOURCE", "ModelPrices", "estimate_cost", "prices_for"]

PRICES_AS_OF = "2026-12-07"
PRICES_SOURCE = "https://developers.openai.com/api/docs/models"


@dataclass(frozen=True)
class ModelPrices:
    """USD per 1M tokens of one model, by kind.

    Parameters:
        text_input: Uncached input text.
        text_cached: Cached input text.
        text_output: Output text.
        audio_input: Uncached input audio.
        audio_cached: Cached input audio.
        audio_output: Output audio.
        image_input: Uncached input image.
        image_cached: Cached input image.
    """

    text_input: float
    text_cached: float
    text_output: float
    audio_input: float
    audio_cached: float
    audio_output: float
    image_input: float = 0.0
    image_cached: float = 0.0


_FULL = ModelPrices(4.0, 0.40, 16.0, 32.0, 0.40, 64.0, 5.0, 0.50)
_FULL_2 = ModelPrices(4.0, 0.40, 24.0, 32.0, 0.40, 64.0, 5.0, 0.50)
_MINI = ModelPrices(0.60, 0.06, 2.40, 10.0, 0.30, 20.0, 0.80, 0.08)

DEFAULT_PRICES: Mapping[str, ModelPrices] = {
    "gpt-realtime": _FULL,
    "gpt-realtime-1.5": _FULL,
    "gpt-realtime-2": _FULL_2,
    "gpt-realtime-2.1": _FULL_2,
    "gpt-realtime-mini": _MINI,
    "gpt-realtime-2.1-mini": _MINI,
}
"""List prices (USD per 1M tokens) on :data:`PRICES_AS_OF`, from :data:`PRICES_SOURCE`."""


def prices_for(model: str | None, table: Mapping[str, ModelPrices] | None = None) -> ModelPrices | None:
    """The prices of ``model``: an exact entry, else the longest entry it starts with (a dated snapshot).

    Args:
        model: The model name (``gpt-realtime-2025-08-28`` finds ``gpt-realtime``).
        table: The price table; ``None`` uses :data:`DEFAULT_PRICES`.

    Returns:
        The prices, or ``None`` for a model not in the table.
    """
    table = DEFAULT_PRICES if table is None else table
    if not model:
        return None
    if model in table:
        return table[model]
    prefixes = [name for name in table if model.startswith(name + "-")]
    return table[max(prefixes, key=len)] if prefixes else None


def estimate_cost(usage: TokenUsage, prices: ModelPrices) -> float:
    """The USD cost of ``usage`` at ``prices`` (cached tokens at the cached price, the rest at full).

    Args:
        usage: The call's summed tokens.
        prices: The model's prices.

    Returns:
        The estimated cost in USD.
    """
    kinds = usage.by_kind()
    per_million = (
        kinds["input_text"] * prices.text_input
        + kinds["cached_text"] * prices.text_cached
        + kinds["output_text"] * prices.text_output
        + kinds["input_audio"] * prices.audio_input
        + kinds["cached_audio"] * prices.audio_cached
        + kinds["output_audio"] * prices.audio_output
        + kinds["input_image"] * prices.image_input
        + kinds["cached_image"] * prices.image_cached
    )
    return per_million / 1_000_000
