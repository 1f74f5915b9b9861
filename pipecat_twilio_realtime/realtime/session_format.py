"""The session settings this service insists on: μ-law both ways, a Realtime voice, sane phone VAD."""

from __future__ import annotations

from typing import Any

from loguru import logger
from pipecat.services.openai.realtime import events

__all__ = [
    "PCMU",
    "PHONE_TURN_DETECTION",
    "audio_formats",
    "not_pcmu",
    "voice_of",
    "warn_extreme_turn_detection",
]

PCMU = "audio/pcmu"
PHONE_TURN_DETECTION = events.TurnDetection(
    type="server_vad", threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500
)
"""Server VAD defaults for phone lines (OpenAI's documented defaults, which suit 8 kHz telephony)."""


def audio_formats(props: events.SessionProperties | None) -> dict[str, str | None]:
    """The audio format type of each direction of a session (``None`` where it names none)."""
    audio = props.audio if props is not None else None
    fmt_in = audio.input.format if audio and audio.input else None
    fmt_out = audio.output.format if audio and audio.output else None
    return {"input": fmt_in.type if fmt_in else None, "output": fmt_out.type if fmt_out else None}


def not_pcmu(props: events.SessionProperties | None, *, missing_ok: bool) -> dict[str, str | None]:
    """The directions of a session whose format is not ``audio/pcmu`` (a missing one counts unless ok)."""
    return {k: v for k, v in audio_formats(props).items() if v != PCMU and not (missing_ok and v is None)}


def voice_of(props: events.SessionProperties | None) -> str | None:
    """The voice a session asks for, if any."""
    audio = props.audio if props is not None else None
    return audio.output.voice if audio and audio.output else None


def warn_extreme_turn_detection(td: Any, owner: str) -> None:
    """Warn about server VAD settings that break phone calls (too deaf, too eager, too slow)."""
    if not isinstance(td, events.TurnDetection):
        return
    if td.threshold is not None and not 0.2 <= td.threshold <= 0.9:
        logger.warning(
            f"{owner} server VAD threshold {td.threshold} is extreme for a phone line (0.5 is the default)"
        )
    if td.silence_duration_ms is not None and not 200 <= td.silence_duration_ms <= 2000:
        logger.warning(
            f"{owner} server VAD silence_duration_ms {td.silence_duration_ms} is extreme "
            "(under 200 cuts callers off, over 2000 feels unresponsive; 500 is the default)"
        )
    if td.prefix_padding_ms is not None and not 100 <= td.prefix_padding_ms <= 1000:
        logger.warning(
            f"{owner} server VAD prefix_padding_ms {td.prefix_padding_ms} is extreme (300 is the default)"
        )
