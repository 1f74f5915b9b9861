"""Stop reply audio that is plainly not μ-law speech before it reaches the wire. Pure (no Pipecat, no I/O).

A server (or a proxy, or a future API change) can confirm ``audio/pcmu`` and still send something else:
PCM16 bytes, a file, buzz, hiss. :class:`ReplyGuard` sees each reply item's μ-law before it is pushed:

* it holds the first ``hold_bytes`` of the item (40 ms by default) and classifies them with
  :func:`~pipecat_twilio_realtime.observe.noise.window_reason` (plus a file-header check): noise there is
  never played;
* after that it passes audio through at once and classifies each following window of ``window_bytes``;
  ``confirm`` noisy windows in a row block the rest of the item (the caller hears at most those windows).

Measured on the shipped clips and on 176 s of varied synthetic speech (``tests/data/speech``): no speech
window of 20 ms or more is classified as noise, while PCM16, white noise, buzz and WAV files are caught in
their first window (see ``BENCHMARKS.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..observe.noise import LIKELY_CAUSES, NoiseFinding, find_container_header, window_reason

__all__ = ["GuardResult", "ReplyGuard"]


@dataclass(frozen=True)
class GuardResult:
    """What to do with one piece of reply audio.

    Parameters:
        play: The μ-law bytes that may go out now (held bytes are released here).
        finding: Why the item is blocked, the first time it is; ``None`` otherwise.
        dropped: Bytes this call decided not to play (held ones included).
    """

    play: bytes
    finding: NoiseFinding | None = None
    dropped: int = 0


class ReplyGuard:
    """Checks one reply item at a time; :meth:`start` begins the next one."""

    def __init__(self, *, hold_bytes: int = 320, window_bytes: int = 320, confirm: int = 2) -> None:
        """Initialize the guard.

        Args:
            hold_bytes: μ-law bytes held and checked at the start of each item (0: none held).
            window_bytes: Bytes per window checked after that.
            confirm: Noisy windows in a row (after the held start) that block the item.

        Raises:
            ValueError: If a size is out of range.
        """
        if hold_bytes < 0 or window_bytes < 64 or confirm < 1:
            raise ValueError(
                f"need hold_bytes >= 0, window_bytes >= 64 and confirm >= 1; got {hold_bytes}, "
                f"{window_bytes}, {confirm}"
            )
        self._hold = hold_bytes
        self._window_bytes = window_bytes
        self._confirm = confirm
        self.start()

    def start(self) -> None:
        """Begin a new reply item."""
        self._held = bytearray()
        self._window = bytearray()
        self._holding = self._hold > 0
        self._first = True
        self._streak = 0
        self.blocked = False

    @staticmethod
    def _finding(reason: str, rms: float) -> NoiseFinding:
        return NoiseFinding(reason, LIKELY_CAUSES[reason], rms)

    def _check_start(self, ulaw: bytes) -> NoiseFinding | None:
        magic = find_container_header(ulaw)
        if magic is not None:
            return _header_finding(magic)
        reason, rms = window_reason(ulaw)
        return self._finding(reason, rms) if reason else None

    def _block(self, finding: NoiseFinding, dropped: int) -> GuardResult:
        self.blocked = True
        self._held.clear()
        self._window.clear()
        return GuardResult(b"", finding, dropped)

    def feed(self, ulaw: bytes) -> GuardResult:
        """Check the next bytes of the current item.

        Args:
            ulaw: Reply audio as the server sent it.

        Returns:
            What may be played now, and a finding when this call blocks the item.
        """
        if self.blocked:
            return GuardResult(b"", dropped=len(ulaw))
        if self._first and not self._holding:
            self._first = False
            magic = find_container_header(ulaw)
            if magic is not None:
                return self._block(_header_finding(magic), len(ulaw))
        if self._holding:
            self._held += ulaw
            if len(self._held) < self._hold:
                return GuardResult(b"")
            return self.flush()
        self._window += ulaw
        while len(self._window) >= self._window_bytes:
            reason, rms = window_reason(bytes(self._window[: self._window_bytes]))
            del self._window[: self._window_bytes]
            self._streak = self._streak + 1 if reason else 0
            if reason and self._streak >= self._confirm:
                return self._block(self._finding(reason, rms), len(ulaw))
        return GuardResult(ulaw)

    def flush(self) -> GuardResult:
        """Decide on held bytes now (the item's audio ended, or the hold is full) and release them."""
        if not self._holding or self.blocked:
            return GuardResult(b"")
        self._holding = self._first = False
        held, self._held = bytes(self._held), bytearray()
        finding = self._check_start(held) if held else None
        if finding is not None:
            return self._block(finding, len(held))
        return GuardResult(held)


def _header_finding(magic: str) -> NoiseFinding:
    return NoiseFinding("container_header", f"{magic} header: {LIKELY_CAUSES['container_header']}", 0.0)
