"""Test helpers for Twilio + OpenAI Realtime bots, usable in your own test suites (no network needed).

Each helper runs a real websocket peer on 127.0.0.1.
"""

from pipecat_twilio_realtime.testing.clips import CLIP_NAMES, CLIP_TEXTS, clip_duration_ms, load_clip
from pipecat_twilio_realtime.testing.realtime import EnergyVad, Faults, RealtimeStandIn, refused_url
from pipecat_twilio_realtime.testing.serve import serve_app
from pipecat_twilio_realtime.testing.twilio import (
    CallerReport,
    Dtmf,
    MarkEcho,
    Silence,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    WaitForBotSilence,
    load_wav_as_ulaw,
)

__all__: list[str] = [
    "CLIP_NAMES",
    "CLIP_TEXTS",
    "CallerReport",
    "Dtmf",
    "EnergyVad",
    "Faults",
    "MarkEcho",
    "RealtimeStandIn",
    "Silence",
    "SimulatedTwilioCaller",
    "Speech",
    "WaitForBotAudio",
    "WaitForBotSilence",
    "clip_duration_ms",
    "load_clip",
    "load_wav_as_ulaw",
    "refused_url",
    "serve_app",
]
