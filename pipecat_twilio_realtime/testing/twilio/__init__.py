"""The simulated Twilio caller: script, WAV input and the caller engine."""

from .caller import SimulatedTwilioCaller, check_outbound
from .playout import Gap, Playout
from .script import (
    CallerReport,
    Dtmf,
    MarkEcho,
    Segment,
    Silence,
    Speech,
    WaitForBotAudio,
    WaitForBotSilence,
)
from .wav import load_wav_as_ulaw

__all__ = [
    "CallerReport",
    "Dtmf",
    "Gap",
    "MarkEcho",
    "Playout",
    "Segment",
    "Silence",
    "SimulatedTwilioCaller",
    "Speech",
    "WaitForBotAudio",
    "WaitForBotSilence",
    "check_outbound",
    "load_wav_as_ulaw",
]
