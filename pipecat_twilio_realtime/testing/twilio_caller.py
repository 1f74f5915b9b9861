"""Deprecated: import from :mod:`pipecat_twilio_realtime.testing` (or ``testing.twilio``) instead."""

from .twilio import (
    CallerReport,
    Dtmf,
    MarkEcho,
    Segment,
    Silence,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    WaitForBotSilence,
    check_outbound,
    load_wav_as_ulaw,
)

__all__ = [
    "CallerReport",
    "Dtmf",
    "MarkEcho",
    "Segment",
    "Silence",
    "SimulatedTwilioCaller",
    "Speech",
    "WaitForBotAudio",
    "WaitForBotSilence",
    "check_outbound",
    "load_wav_as_ulaw",
]
