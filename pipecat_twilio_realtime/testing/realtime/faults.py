"""The stand-in's misbehaviour switches: each one a way a real server (or network) lets a bot down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .session import PCM_24K

__all__ = ["Faults"]


@dataclass(frozen=True)
class Faults:
    """Which misbehaviours are on (all off by default); see :class:`RealtimeStandIn` for each."""

    reply_format_override: Literal["audio/pcm"] | None = None
    close_mid_reply: bool = False
    error_after_session: bool = False
    session_confirm_delay: float = 0.0
    session_limit_s: float | None = None

    SERVER_ERROR = "The server had an error while processing your request (stand-in misbehaviour)"
    SESSION_EXPIRED = "Your session hit the maximum duration of 60 minutes."

    def confirmed_output_format(self) -> dict[str, Any] | None:
        """The output format to confirm whatever the session says, or ``None`` to confirm the truth."""
        return dict(PCM_24K) if self.reply_format_override is not None else None

    def sends_pcm(self, output_format: str) -> bool:
        """Whether reply audio goes out as PCM16 24 kHz (asked for, or forced by the override)."""
        return self.reply_format_override == "audio/pcm" or output_format == "audio/pcm"

    def closes_at(self, chunk_index: int, chunks: int) -> bool:
        """Whether to close the socket instead of sending this chunk (halfway through a reply)."""
        return self.close_mid_reply and chunk_index == chunks // 2

    def errors_after_update(self, first_update: bool) -> bool:
        """Whether a ``server_error`` follows this ``session.updated``."""
        return self.error_after_session and first_update
