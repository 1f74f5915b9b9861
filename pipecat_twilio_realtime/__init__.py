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
from .performance import (
    LEAN_INBOUND_FRAME_MS,
    RECOMMENDED_INBOUND_FRAME_MS,
    RECOMMENDED_OUT_10MS_CHUNKS,
    recommended_transport_params,
    recommended_user_aggregator_params,
    recommended_worker_params,
)
from .realtime import OpenAIRealtimeMuLawLLMService, PlaybackTracker, RealtimeMuLawStats
from .serializer import TwilioMediaStreamSerializer, TwilioStreamStats
from .twilio_protocol import TwilioProtocolError
from .twilio_rest import TwilioCallUpdate
from .twilio_security import (
    BodyTooLarge,
    SignatureCheck,
    TwilioSignatureValidator,
    read_body_capped,
    require_twilio_signature,
)

__all__ = [  # noqa: RUF022 - plain sorted(), as tests/test_public_api.py checks
    "BINDING_PARAMETER",
    "BindingCheck",
    "BodyTooLarge",
    "CallLimitReached",
    "CallLimiter",
    "CallStats",
    "LEAN_INBOUND_FRAME_MS",
    "MediaStatsObserver",
    "NoiseFinding",
    "OpenAIRealtimeMuLawLLMService",
    "PlaybackTracker",
    "RECOMMENDED_INBOUND_FRAME_MS",
    "RECOMMENDED_OUT_10MS_CHUNKS",
    "RealtimeMuLawStats",
    "SignatureCheck",
    "StreamBinder",
    "TwilioCallUpdate",
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
    "recommended_transport_params",
    "recommended_user_aggregator_params",
    "recommended_worker_params",
    "require_twilio_signature",
    "watch_inactivity",
]
