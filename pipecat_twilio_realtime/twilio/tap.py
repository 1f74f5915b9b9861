"""``WireTap``: what a recorder is told about the Twilio socket, at the moment it crosses it.

The serializer calls a tap (:meth:`TwilioMediaStreamSerializer.set_wire_tap
<pipecat_twilio_realtime.twilio.serializer.TwilioMediaStreamSerializer.set_wire_tap>`) synchronously, with
the μ-law bytes as they are on the wire and its own clock's time, so a recording needs no second encode and
no guess about when a ``clear`` left.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["WireTap"]


class WireTap(Protocol):
    """The calls a serializer makes to a tap; each gets ``now``, the serializer clock's time in seconds."""

    def inbound_media(self, ulaw: bytes, now: float) -> None:
        """Twilio sent caller audio (one accepted ``media`` message)."""

    def outbound_media(self, ulaw: bytes, now: float) -> None:
        """Bot audio went to Twilio (one ``media`` message)."""

    def clear_sent(self, now: float) -> None:
        """A ``clear`` went to Twilio: it drops what it had buffered and not played."""

    def mark_sent(self, name: str, ulaw_sent: int, now: float) -> None:
        """A ``mark`` went to Twilio after ``ulaw_sent`` μ-law bytes of bot audio."""

    def mark_echoed(self, name: str, ulaw_sent: int | None, played: bool, now: float) -> None:
        """Twilio echoed a mark: played, or flushed by a ``clear`` (``ulaw_sent`` ``None``: not ours)."""

    def stream_stopped(self, now: float) -> None:
        """Twilio sent ``stop``: the caller hears nothing more."""
