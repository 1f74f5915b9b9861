"""pipecat-twilio-realtime: Twilio Media Streams + OpenAI Realtime for Pipecat, μ-law end to end.

Public API (everything else is internal and may change)::

    from pipecat_twilio_realtime import TwilioMediaStreamSerializer
"""

from ._logsafe import quote_for_log
from ._version import __version__
from .call_binding import BINDING_PARAMETER, BindingCheck, StreamBinder
from .call_limits import CallLimiter, CallLimitReached, watch_inactivity
from .frames import TwilioMarkEchoFrame, TwilioMarkRequestFrame, TwilioStopFrame
from .noise import NoiseFinding
from .observer import CallStats, MediaStatsObserver
from .realtime import OpenAIRealtimeMuLawLLMService, PlaybackTracker, RealtimeMuLawStats
from .serializer import TwilioMediaStreamSerializer, TwilioStreamStats
from .twilio_protocol import TwilioProtocolError
from .twilio_security import (
    BodyTooLarge,
    SignatureCheck,
    TwilioSignatureValidator,
    read_body_capped,
    require_twilio_signature,
)

__all__ = [
    "BINDING_PARAMETER",
    "BindingCheck",
    "BodyTooLarge",
    "CallLimitReached",
    "CallLimiter",
    "CallStats",
    "MediaStatsObserver",
    "NoiseFinding",
    "OpenAIRealtimeMuLawLLMService",
    "PlaybackTracker",
    "RealtimeMuLawStats",
    "SignatureCheck",
    "StreamBinder",
    "TwilioMarkEchoFrame",
    "TwilioMarkRequestFrame",
    "TwilioMediaStreamSerializer",
    "TwilioProtocolError",
    "TwilioSignatureValidator",
    "TwilioStopFrame",
    "TwilioStreamStats",
    "__version__",
    "quote_for_log",
    "read_body_capped",
    "require_twilio_signature",
    "watch_inactivity",
]
