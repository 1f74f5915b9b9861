"""Energy-based turn detection, standing in for the Realtime server's ``server_vad`` and ``semantic_vad``."""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import Literal

__all__ = ["SEMANTIC_FINISHED_SPEECH_MS", "SEMANTIC_WAITS_MS", "EnergyVad", "gate_dbfs"]

SEMANTIC_WAITS_MS: dict[str, tuple[int, int]] = {
    "low": (1000, 8000),
    "medium": (500, 4000),
    "high": (250, 2000),
    "auto": (500, 4000),
}
"""``semantic_vad`` eagerness → (silence ending a turn that sounds finished, the maximum wait), in ms.

The maximum waits are OpenAI's: "``low``, ``medium``, and ``high`` have max timeouts of 8s, 4s, and 2s
respectively", "``auto`` is the default and is equivalent to ``medium``" (the ``openai`` SDK's
``SemanticVad.eagerness`` docstring, the API reference's words). The shorter wait when a turn sounds
finished is the stand-in's choice (an eighth of the maximum), since OpenAI documents no number for it.
"""

SEMANTIC_FINISHED_SPEECH_MS = 800
"""A ``semantic_vad`` turn "sounds finished" once it holds this much speech (see :class:`EnergyVad`)."""


def gate_dbfs(threshold: float) -> float:
    """The energy gate a ``server_vad`` ``threshold`` maps to: ``-60 + 40 * threshold`` dBFS."""
    return -60.0 + 40.0 * threshold


class EnergyVad:
    """Energy-based turn detection standing in for the server's ``server_vad`` and ``semantic_vad``.

    The real server uses a neural VAD; here a 20 ms frame is speech when its RMS
    level is at or above a gate derived from the session's ``threshold``:
    ``gate_dbfs = -60 + 40 * threshold`` (0.0 → -60 dBFS, the default 0.5 →
    -40 dBFS, 1.0 → -20 dBFS). Phone speech sits around -20 dBFS RMS, line
    silence far below -50 dBFS. Speech starts after two consecutive speech
    frames (40 ms, so a click is not a turn) and ``audio_start_ms`` is moved back
    by ``prefix_padding_ms``; it stops after ``silence_duration_ms`` of non-speech
    frames, with ``audio_end_ms`` at the end of that silence (as the real server
    reports it). Times count from the start of all audio appended in the session
    (audio time, not wall-clock time: a client that appends faster than real time
    gets the same boundaries).

    With an ``eagerness`` (``semantic_vad``) the silence that ends a turn is not fixed.
    OpenAI's semantic VAD "uses a turn detection model (in conjunction with VAD) to
    semantically estimate whether the user has finished speaking, then dynamically sets a
    timeout based on this probability. For example, if user audio trails off with 'uhhm',
    the model will score a low probability of turn end and wait longer" (the SDK's
    ``RealtimeAudioInputTurnDetection`` docstring). The stand-in has no language model, so
    its rule is acoustic: a turn holding at least :data:`SEMANTIC_FINISHED_SPEECH_MS` of
    speech frames "sounds finished" and ends after the short wait of
    :data:`SEMANTIC_WAITS_MS`; a shorter one (a filler, a cough, a cut-off word) waits the
    eagerness's maximum (8/4/2 s). Every wait is rounded up to whole 20 ms frames.
    """

    FRAME_MS = 20
    MIN_SPEECH_FRAMES = 2

    def __init__(
        self,
        threshold: float = 0.5,
        prefix_padding_ms: int = 300,
        silence_duration_ms: int = 500,
        eagerness: str | None = None,
    ):
        """Initialise the detector.

        Args:
            threshold: The session's ``turn_detection.threshold`` (0.0–1.0).
            prefix_padding_ms: The session's ``turn_detection.prefix_padding_ms``.
            silence_duration_ms: The session's ``turn_detection.silence_duration_ms`` (``server_vad``).
            eagerness: ``low``/``medium``/``high``/``auto`` for ``semantic_vad`` (then
                ``silence_duration_ms`` is not used); ``None`` for ``server_vad``.
        """
        self.gate_dbfs = gate_dbfs(threshold)
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self.eagerness = eagerness
        self.speaking = False
        self._position_ms = 0
        self._speech_run = 0
        self._silence_ms = 0
        self._turn_speech_ms = 0
        self._pending = array("h")

    @staticmethod
    def rms_dbfs(samples: Sequence[int]) -> float:
        """Return the RMS level of PCM16 samples in dBFS (``-inf`` for digital silence)."""
        if not samples:
            return -math.inf
        mean_square = sum(s * s for s in samples) / len(samples)
        return -math.inf if mean_square == 0 else 10 * math.log10(mean_square / 32768**2)

    def end_of_turn_silence_ms(self) -> int:
        """The silence that ends the turn in progress, given the speech it holds so far."""
        if self.eagerness is None:
            return self.silence_duration_ms
        finished, longest = SEMANTIC_WAITS_MS.get(self.eagerness, SEMANTIC_WAITS_MS["auto"])
        return finished if self._turn_speech_ms >= SEMANTIC_FINISHED_SPEECH_MS else longest

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
                    self._turn_speech_ms = self._speech_run * self.FRAME_MS
                    onset = self._position_ms - self._speech_run * self.FRAME_MS
                    boundaries.append(("started", max(0, onset - self.prefix_padding_ms)))
            else:
                if loud:
                    self._silence_ms = 0
                    self._turn_speech_ms += self.FRAME_MS
                else:
                    self._silence_ms += self.FRAME_MS
                if self._silence_ms >= self.end_of_turn_silence_ms():
                    self.speaking = False
                    self._speech_run = 0
                    boundaries.append(("stopped", self._position_ms))
        return boundaries

    def retune(
        self, threshold: float, prefix_padding_ms: int, silence_duration_ms: int, eagerness: str | None = None
    ) -> None:
        """Apply new session settings without losing the turn in progress."""
        self.gate_dbfs = gate_dbfs(threshold)
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self.eagerness = eagerness
