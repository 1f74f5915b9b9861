"""Energy-based turn detection, standing in for the Realtime server's ``server_vad``."""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import Literal

__all__ = ["EnergyVad"]


class EnergyVad:
    """Energy-based turn detection standing in for the server's ``server_vad``.

    The real server uses a neural VAD; here a 20 ms frame is speech when its RMS
    level is at or above a gate derived from the session's ``threshold``:
    ``gate_dbfs = -60 + 40 * threshold`` (0.0 → -60 dBFS, the default 0.5 →
    -40 dBFS, 1.0 → -20 dBFS). Phone speech sits around -20 dBFS RMS, line
    silence far below -50 dBFS. Speech starts after two consecutive speech
    frames (40 ms, so a click is not a turn) and ``audio_start_ms`` is moved back
    by ``prefix_padding_ms``; it stops after ``silence_duration_ms`` of non-speech
    frames, with ``audio_end_ms`` at the end of that silence (as the real server
    reports it). Times count from the start of all audio appended in the session.
    """

    FRAME_MS = 20
    MIN_SPEECH_FRAMES = 2

    def __init__(self, threshold: float = 0.5, prefix_padding_ms: int = 300, silence_duration_ms: int = 500):
        """Initialise the detector.

        Args:
            threshold: The session's ``turn_detection.threshold`` (0.0–1.0).
            prefix_padding_ms: The session's ``turn_detection.prefix_padding_ms``.
            silence_duration_ms: The session's ``turn_detection.silence_duration_ms``.
        """
        self.gate_dbfs = -60.0 + 40.0 * threshold
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self.speaking = False
        self._position_ms = 0
        self._speech_run = 0
        self._silence_ms = 0
        self._pending = array("h")

    @staticmethod
    def rms_dbfs(samples: Sequence[int]) -> float:
        """Return the RMS level of PCM16 samples in dBFS (``-inf`` for digital silence)."""
        if not samples:
            return -math.inf
        mean_square = sum(s * s for s in samples) / len(samples)
        return -math.inf if mean_square == 0 else 10 * math.log10(mean_square / 32768**2)

    def feed(self, pcm16: bytes, sample_rate: int) -> list[tuple[Literal["started", "stopped"], int]]:
        """Feed PCM16 audio; return the turn boundaries it completes.

        Args:
            pcm16: Mono PCM16 little-endian samples.
            sample_rate: Their rate (8000 or 24000).

        Returns:
            ``("started", audio_start_ms)`` / ``("stopped", audio_end_ms)`` pairs, in order.
        """
        self._pending.frombytes(pcm16)
        frame = sample_rate * self.FRAME_MS // 1000
        boundaries: list[tuple[Literal["started", "stopped"], int]] = []
        while len(self._pending) >= frame:
            samples = self._pending[:frame]
            del self._pending[:frame]
            loud = self.rms_dbfs(samples) >= self.gate_dbfs
            self._position_ms += self.FRAME_MS
            if not self.speaking:
                self._speech_run = self._speech_run + 1 if loud else 0
                if self._speech_run >= self.MIN_SPEECH_FRAMES:
                    self.speaking = True
                    self._silence_ms = 0
                    onset = self._position_ms - self._speech_run * self.FRAME_MS
                    boundaries.append(("started", max(0, onset - self.prefix_padding_ms)))
            else:
                self._silence_ms = 0 if loud else self._silence_ms + self.FRAME_MS
                if self._silence_ms >= self.silence_duration_ms:
                    self.speaking = False
                    self._speech_run = 0
                    boundaries.append(("stopped", self._position_ms))
        return boundaries

    def retune(self, threshold: float, prefix_padding_ms: int, silence_duration_ms: int) -> None:
        """Apply new session settings without losing the turn in progress."""
        self.gate_dbfs = -60.0 + 40.0 * threshold
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
