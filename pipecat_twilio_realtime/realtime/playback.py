"""``PlaybackTracker``: what the caller has heard of each reply, from Twilio mark echoes."""

from __future__ import annotations

from ..frames import TwilioMarkEchoFrame

__all__ = ["PlaybackTracker"]

_MARK_PREFIX = "ptr:"


class PlaybackTracker:
    """Maps Twilio mark echoes to how many μ-law bytes of each reply item the caller has heard.

    The service asks for a mark named ``ptr:<item>/start`` before an item's first audio and
    ``ptr:<item>/<bytes>`` as its audio goes out. The serializer stamps each mark with its own count
    of μ-law bytes sent, so ``heard = stamp(latest played mark) - stamp(start mark)``. Marks flushed by
    a ``clear`` do not count. Accuracy: the mark interval, plus at most one output chunk (20 ms) that
    the transport may still hold back when a mark is stamped.
    """

    KEEP_ITEMS = 8
    """Recent reply items remembered (a barge-in truncates the current one; older ones are done)."""

    def __init__(self, keep_items: int = KEEP_ITEMS) -> None:
        """Initialize the tracker.

        Args:
            keep_items: How many recent items to remember.
        """
        self._keep = keep_items
        self._start: dict[str, int] = {}
        self._heard: dict[str, int] = {}

    @staticmethod
    def start_label(item_id: str) -> str:
        """Label of the mark sent before an item's first audio."""
        return f"{_MARK_PREFIX}{item_id}/start"

    @staticmethod
    def progress_label(item_id: str, produced: int) -> str:
        """Label of a mark sent after ``produced`` μ-law bytes of an item."""
        return f"{_MARK_PREFIX}{item_id}/{produced}"

    def on_echo(self, echo: TwilioMarkEchoFrame) -> bool:
        """Record one mark echo.

        Args:
            echo: The echo from the serializer.

        Returns:
            Whether the echo was one of ours.
        """
        if not echo.label.startswith(_MARK_PREFIX):
            return False
        item_id, _, kind = echo.label[len(_MARK_PREFIX) :].rpartition("/")
        if not echo.played or echo.ulaw_bytes_sent is None:
            return True
        if kind == "start":
            self._start[item_id] = echo.ulaw_bytes_sent
            self._heard.setdefault(item_id, 0)
            while len(self._start) > self._keep:
                oldest = next(iter(self._start))
                self._start.pop(oldest)
                self._heard.pop(oldest, None)
        elif item_id in self._start:
            heard = echo.ulaw_bytes_sent - self._start[item_id]
            self._heard[item_id] = max(self._heard.get(item_id, 0), heard)
        return True

    def heard_bytes(self, item_id: str) -> int:
        """μ-law bytes of ``item_id`` acknowledged as played (0 when none)."""
        return self._heard.get(item_id, 0)
