"""A call's tokens and cost as the call summary and the ``WS_STOP`` line show them.

Read from the service's stats in the summary (``summary["realtime"]["usage"]`` and ``["cost_usd"]``, see
:class:`~pipecat_twilio_realtime.realtime.stats.RealtimeMuLawStats`); a call without a Realtime service
shows ``tokens=- cost=-``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["summary_tokens", "tokens_log_fields"]


def summary_tokens(realtime: Any) -> dict[str, Any]:
    """The summary's ``tokens`` (``{"input": n, "output": m}`` or ``None``) and ``cost_usd`` (or ``None``).

    Args:
        realtime: ``summary["realtime"]``: the service's stats as a dict, or ``None``.
    """
    if not isinstance(realtime, Mapping) or not isinstance(realtime.get("usage"), Mapping):
        return {"tokens": None, "cost_usd": None}
    usage = realtime["usage"]
    tokens = {"input": int(usage.get("input_tokens") or 0), "output": int(usage.get("output_tokens") or 0)}
    cost = realtime.get("cost_usd")
    return {"tokens": tokens, "cost_usd": float(cost) if isinstance(cost, (int, float)) else None}


def tokens_log_fields(summary: Mapping[str, Any]) -> str:
    """``tokens=IN/OUT cost=$0.0123`` for the ``WS_STOP`` line (``-`` for what is unknown)."""
    tokens, cost = summary.get("tokens"), summary.get("cost_usd")
    shown = f"{tokens['input']}/{tokens['output']}" if tokens else "-"
    return f"tokens={shown} cost={'-' if cost is None else f'${cost:.4f}'}"
