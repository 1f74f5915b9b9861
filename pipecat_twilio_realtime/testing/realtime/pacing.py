"""How the stand-in paces a reply's ``response.output_audio.delta`` events, pure.

What a real model does, and where that comes from:

* it generates audio **faster than real time**: a reply's audio has arrived long before it has played.
  Relays that forward OpenAI's deltas to Twilio as they come rely on it, and reviewers of such relays
  point out that at a barge-in "OpenAI can generate much faster than real time, so ... [what was sent]
  may include seconds of buffered audio" (twilio/twilio-agent-connect-python#118); OpenAI's own speech
  endpoint streams at about 6.5× real time, first audio after ~1 s (measured in
  mgsgde/whisper-shortcut#69);
* in **bursts** of unevenly sized deltas: "many ``response.audio.deltas`` are sent in rapid
  succession" (Azure-Samples/aisearch-openai-rag-audio#60); the deltas are small and not whole 20 ms
  frames, which is why openai-agents' Twilio example re-buffers them into 50 ms messages
  (openai/openai-agents-python#1906, PR #1926) and openai-agents-js users found Twilio jitter from
  forwarding them unaligned (openai/openai-agents-js#1184);
* the **first delta** comes a few hundred ms after the response starts (~200–300 ms reported for a
  good network, skywork.ai's Realtime API review; more under load).

OpenAI documents no exact delta size or rate, so :class:`ModelPacing`'s numbers are a model of the
above, not a measurement: first delta after 350 ms, deltas of 20–200 ms (whole milliseconds, not frame
multiples), bursts of 0.5–1.5 s of audio sent back to back, at 4× real time on average. Its schedule is
seeded, so a test run repeats. :class:`SteadyPacing` is the stand-in's older fixed-rate pacing
(``SteadyPacing(1.0)``: exactly real time, each delta sent when its audio would start playing).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["REAL_TIME", "ModelPacing", "Pacing", "Schedule", "SteadyPacing", "schedule"]

BYTES_PER_MS = 8  # μ-law 8 kHz: the clips' own format


@dataclass(frozen=True)
class ModelPacing:
    """Deltas paced like a model's: a first-delta latency, then bursts, faster than real time on average.

    Parameters:
        first_delta_s: Seconds from ``response.created`` to the first audio delta.
        delta_ms: The range a delta's audio length is drawn from (uniform, whole ms).
        burst_ms: The range a burst's audio length is drawn from; a burst's deltas go out back to back.
        speed: The mean generation rate in multiples of real time: after a burst of ``B`` ms of audio the
            next one starts ``B / speed`` ms later, so delivery always stays ahead of playout.
        seed: Seeds the draws (each reply draws afresh from the stand-in's own seeded generator).
    """

    first_delta_s: float = 0.35
    delta_ms: tuple[int, int] = (20, 200)
    burst_ms: tuple[int, int] = (500, 1500)
    speed: float = 4.0
    seed: int = 0

    def __post_init__(self) -> None:
        """Reject settings that make no schedule."""
        low, high = self.delta_ms
        if not 0 < low <= high or not 0 < self.burst_ms[0] <= self.burst_ms[1]:
            raise ValueError(f"ModelPacing needs 0 < min <= max for delta_ms and burst_ms, got {self}")
        if self.speed <= 0 or self.first_delta_s < 0:
            raise ValueError(f"ModelPacing needs speed > 0 and first_delta_s >= 0, got {self}")


@dataclass(frozen=True)
class SteadyPacing:
    """Fixed-size deltas at a fixed rate: ``delta_ms`` of audio, then a pause of ``delta_ms / speed``.

    Parameters:
        speed: Multiples of real time (1.0: exactly real time; ``math.inf``: no pause at all).
        delta_ms: Audio per delta, in ms.
    """

    speed: float = 1.0
    delta_ms: int = 100

    def __post_init__(self) -> None:
        """Reject settings that make no schedule."""
        if self.speed <= 0 or self.delta_ms <= 0:
            raise ValueError(f"SteadyPacing needs speed > 0 and delta_ms > 0, got {self}")


Pacing = ModelPacing | SteadyPacing

REAL_TIME = SteadyPacing(1.0)
"""Exactly real time: each delta leaves when its audio would start playing (no lead at all)."""


@dataclass(frozen=True)
class Schedule:
    """When a reply's deltas go out.

    Parameters:
        first_wait_s: Seconds to wait before the first delta.
        deltas: ``(bytes of audio, seconds to wait after sending it)`` per delta, in order.
    """

    first_wait_s: float
    deltas: list[tuple[int, float]]


def schedule(pacing: Pacing, audio_bytes: int, rng: random.Random) -> Schedule:
    """Plan a reply of ``audio_bytes`` μ-law bytes (8 a millisecond).

    Args:
        pacing: How to pace it.
        audio_bytes: The reply's audio length.
        rng: Where a :class:`ModelPacing` draws its sizes from.

    Returns:
        The :class:`Schedule`; its delta sizes add up to ``audio_bytes``.
    """
    if isinstance(pacing, SteadyPacing):
        chunk = BYTES_PER_MS * pacing.delta_ms
        pause = pacing.delta_ms / 1000 / pacing.speed if math.isfinite(pacing.speed) else 0.0
        return Schedule(0.0, [(min(chunk, audio_bytes - i), pause) for i in range(0, audio_bytes, chunk)])
    deltas: list[tuple[int, float]] = []
    left = audio_bytes
    while left > 0:
        burst = BYTES_PER_MS * rng.randint(*pacing.burst_ms)
        in_burst = 0
        while left > 0 and in_burst < burst:
            size = min(left, BYTES_PER_MS * rng.randint(*pacing.delta_ms))
            deltas.append((size, 0.0))
            left -= size
            in_burst += size
        if left > 0:  # the next burst starts once this one's audio would have been generated
            deltas[-1] = (deltas[-1][0], in_burst / BYTES_PER_MS / 1000 / pacing.speed)
    return Schedule(pacing.first_delta_s, deltas)
