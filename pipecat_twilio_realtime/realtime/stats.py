"""``RealtimeMuLawStats``: counters of the OpenAI side of a call."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .usage import TokenUsage

__all__ = ["RealtimeMuLawStats"]


@dataclass
class RealtimeMuLawStats:
    """Counters of the OpenAI side of a call, readable at any time.

    Parameters:
        appended_bytes: μ-law bytes sent in ``input_audio_buffer.append``.
        appends: ``input_audio_buffer.append`` events sent.
        held_before_session_bytes: caller μ-law held until the server confirmed ``audio/pcmu``.
        dropped_input_bytes: caller μ-law dropped (held too long before the session was confirmed).
        wrong_rate_frames: input frames dropped for not being PCM16 mono at 8000 Hz.
        reply_bytes: μ-law bytes received in ``response.output_audio.delta``.
        reply_deltas: those deltas.
        dropped_reply_bytes: reply bytes dropped because the session format was not confirmed.
        responses: reply audio items started.
        barge_ins: times the caller talked over a reply.
        truncations: ``(item_id, audio_end_ms, produced_ms)`` of each ``conversation.item.truncate`` sent.
        format_mismatches: ``session.updated`` events that reported a format other than ``audio/pcmu``.
        realtime_lost: 1 when the OpenAI connection was lost (closed, or a fatal ``error``): the call ended.
        recovered_errors: ``error`` events that did not end the session (e.g. a rejected truncate).
        dropped_at_end_bytes: caller μ-law still held when the call ended that could not be sent (the
            session was never confirmed, lost or closed); see ``dropped_at_end_reason``.
        dropped_at_end_reason: why those bytes were not sent, or ``None``.
        dropped_after_loss: client events dropped because the connection was already lost.
        first_reply_latency_ms: from the server's ``speech_stopped`` to the first reply delta, per turn.
        blocked_replies: reply items the noise guard stopped before the caller heard them as noise.
        guard_dropped_bytes: reply μ-law bytes the noise guard did not play.
        cut_reply_bytes: reply μ-law bytes of an item that arrived after it was truncated (a barge-in):
            not played, so the caller hears nothing past the point the model was told.
        reconnects: reconnect attempts (after a drop, a stall or the session time limit).
        reconnect_ms: for each successful reconnect, milliseconds from the loss to the new confirmed session.
        stalls: times the server went quiet while a reply was owed.
        session_failure: why the session could not go on (then the caller heard the fallback), or ``None``.
        usage: the ``response.done`` usage of the call, summed by kind.
        model: the model the prices were looked up for.
        cost_usd: the estimated cost of ``usage`` (:mod:`.pricing`), ``None`` for a model without prices.
    """

    appended_bytes: int = 0
    appends: int = 0
    held_before_session_bytes: int = 0
    dropped_input_bytes: int = 0
    wrong_rate_frames: int = 0
    reply_bytes: int = 0
    reply_deltas: int = 0
    dropped_reply_bytes: int = 0
    responses: int = 0
    barge_ins: int = 0
    truncations: list[tuple[str, int, int]] = field(default_factory=list)
    format_mismatches: int = 0
    realtime_lost: int = 0
    recovered_errors: int = 0
    dropped_after_loss: int = 0
    dropped_at_end_bytes: int = 0
    dropped_at_end_reason: str | None = None
    first_reply_latency_ms: list[float] = field(default_factory=list)
    blocked_replies: int = 0
    guard_dropped_bytes: int = 0
    cut_reply_bytes: int = 0
    reconnects: int = 0
    reconnect_ms: list[float] = field(default_factory=list)
    stalls: int = 0
    session_failure: str | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    model: str | None = None
    cost_usd: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the counters as a plain dict (for metrics exporters)."""
        return {**asdict(self), "usage": self.usage.as_dict()}
