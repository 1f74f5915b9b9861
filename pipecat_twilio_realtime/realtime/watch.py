"""``SessionWatch``: the clocks that turn a silent Realtime session into a named problem."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SessionWatch"]


@dataclass
class SessionWatch:
    """When a session must be confirmed by, and when a quiet server means a stalled one. Pure: no I/O.

    Parameters:
        ready_timeout_s: Seconds from opening for the server to confirm ``audio/pcmu``.
        stall_timeout_s: Seconds without a server event, while a reply is owed, that count as a stall.
        ready_by: Deadline for the confirmation (``None`` once confirmed).
        awaiting_since: When the caller's turn ended with no reply yet (``None``: not waiting).
    """

    ready_timeout_s: float
    stall_timeout_s: float
    ready_by: float | None = None
    awaiting_since: float | None = None

    def opening(self, now: float) -> None:
        """A session is being opened: it must be confirmed within the bound."""
        self.ready_by = now + self.ready_timeout_s
        self.awaiting_since = None

    def confirmed(self) -> None:
        """The server confirmed the session."""
        self.ready_by = None

    def caller_turn_ended(self, now: float) -> None:
        """The server saw the caller stop talking: a reply is owed."""
        self.awaiting_since = now

    def reply_started(self) -> None:
        """A reply arrived (or was created): nothing is owed any more."""
        self.awaiting_since = None

    def overdue(self, now: float, last_event_at: float, *, replying: bool) -> tuple[str, str] | None:
        """What is overdue now, if anything.

        Args:
            now: The current time.
            last_event_at: When the server last sent anything.
            replying: Whether a response is in progress.

        Returns:
            ``("ready", reason)``, ``("stall", reason)``, or ``None``.
        """
        if self.ready_by is not None:
            if now >= self.ready_by:
                return "ready", f"no session.updated within {self.ready_timeout_s:g} s"
            return None
        quiet = now - last_event_at
        if quiet < self.stall_timeout_s:
            return None
        if replying:
            return "stall", f"no server event for {quiet:.1f} s in the middle of a reply"
        if self.awaiting_since is not None and now - self.awaiting_since >= self.stall_timeout_s:
            return "stall", f"no reply and no server event for {quiet:.1f} s after the caller's turn ended"
        return None
