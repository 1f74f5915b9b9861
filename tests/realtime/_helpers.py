"""Helpers the realtime tests share."""

from __future__ import annotations

from pipecat_twilio_realtime.realtime.fallback import load_apology
from pipecat_twilio_realtime.testing import WaitForBotSilence


def apology_on_the_wire() -> bytes:
    """The shipped apology as Twilio must receive it: 0x7F as 0xFF, the last 20 ms chunk padded with 0xFF."""
    clip = load_apology().replace(b"\x7f", b"\xff")
    return clip + b"\xff" * (-len(clip) % 160)


FAST = 4.0
"""Call time per real second for calls whose assertions are about bytes and events, not wall-clock pacing
(``docs/test-speed.md``). The stand-in then runs at ``8.0 * FAST`` (the same lead over the call's playout as
at real time), and every margin against a loaded machine (quiet before speaking, timeouts) is ``FAST`` times
longer in call time: the same in real seconds as at real time. Only the audio itself plays faster."""
QUIET = WaitForBotSilence(quiet_s=0.6 * FAST)
"""Until the bot has been quiet 0.6 real seconds, as ``WaitForBotSilence()`` waits at real time."""
