"""Helpers the realtime tests share."""

from __future__ import annotations

from pipecat_twilio_realtime.realtime.fallback import load_apology


def apology_on_the_wire() -> bytes:
    """The shipped apology as Twilio must receive it: 0x7F as 0xFF, the last 20 ms chunk padded with 0xFF."""
    clip = load_apology().replace(b"\x7f", b"\xff")
    return clip + b"\xff" * (-len(clip) % 160)
