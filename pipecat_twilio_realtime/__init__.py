"""pipecat-twilio-realtime: Twilio Media Streams + OpenAI Realtime for Pipecat, μ-law end to end.

Public API (everything else is internal and may change)::

    from pipecat_twilio_realtime import TwilioMediaStreamSerializer
"""

from ._version import __version__
from .frames import TwilioMarkEchoFrame, TwilioMarkRequestFrame, TwilioStopFrame
from .noise import NoiseFinding
from .observer import CallStats, MediaStatsObserver
from .realtime import OpenAIRealtimeMuLawLLMService, PlaybackTracker, RealtimeMuLawStats
from .serializer import TwilioMediaStreamSerializer, TwilioStreamStats
from .twilio_protocol import TwilioProtocolError

__all__ = [
    "CallStats",
    "MediaStatsObserver",
    "NoiseFinding",
    "OpenAIRealtimeMuLawLLMService",
    "PlaybackTracker",
    "RealtimeMuLawStats",
    "TwilioMarkEchoFrame",
    "TwilioMarkRequestFrame",
    "TwilioMediaStreamSerializer",
    "TwilioProtocolError",
    "TwilioStopFrame",
    "TwilioStreamStats",
    "__version__",
]
