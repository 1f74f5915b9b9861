"""Speech clips shipped with the package, as raw G.711 μ-law at 8000 Hz mono.

The clips are synthetic speech (eSpeak NG, see ``clips/README.md``) for tests
and the offline call simulator: two bot lines the Realtime stand-in replies
with and two caller lines a simulated caller can speak. Each byte is one
sample, so a clip lasts ``len(clip) / 8`` milliseconds.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["CLIP_NAMES", "CLIP_TEXTS", "clip_duration_ms", "load_clip"]

CLIP_TEXTS: dict[str, str] = {
    "bot_greeting": "Hello! Thanks for calling. How can I help you today?",
    "bot_answer": "We open at nine tomorrow morning, and we close at six in the evening.",
    "caller_question": "Hi, what time do you open tomorrow?",
    "caller_interrupt": "Sorry, wait, one more thing.",
}
"""What each clip says (its transcript)."""

CLIP_NAMES: tuple[str, ...] = tuple(CLIP_TEXTS)
"""The names :func:`load_clip` accepts."""


@cache
def load_clip(name: str) -> bytes:
    """Return a shipped clip's μ-law bytes (8000 Hz, mono, headerless).

    Args:
        name: One of :data:`CLIP_NAMES`, e.g. ``"caller_question"``.

    Returns:
        The clip's raw μ-law bytes.

    Raises:
        ValueError: If ``name`` is not a shipped clip.
    """
    if name not in CLIP_TEXTS:
        raise ValueError(f"unknown clip {name!r}; available: {', '.join(CLIP_NAMES)}")
    return resources.files(__package__).joinpath("clips", f"{name}.ulaw").read_bytes()


def clip_duration_ms(name: str) -> int:
    """Return a clip's duration in whole milliseconds (8 μ-law bytes per ms).

    Args:
        name: One of :data:`CLIP_NAMES`.

    Returns:
        The duration, rounded down.
    """
    return len(load_clip(name)) // 8
