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
from .twilio_security import SignatureCheck, TwilioSignatureValidator, require_twilio_signature

__all__ = [
    "CallStats",
    "MediaStatsObserver",
    "NoiseFinding",
    "OpenAIRealtimeMuLawLLMService",
    "PlaybackTracker",
    "RealtimeMuLawStats",
    "SignatureCheck",
    "TwilioMarkEchoFrame",
    "TwilioMarkRequestFrame",
    "TwilioMediaStreamSerializer",
    "TwilioProtocolError",
    "TwilioSignatureValidator",
    "TwilioStopFrame",
    "TwilioStreamStats",
    "__version__",
    "require_twilio_signature",
]
