"""pipecat-twilio-realtime: Twilio Media Streams + OpenAI Realtime for Pipecat, μ-law end to end.

Public API (everything else is internal and may change)::

    from pipecat_twilio_realtime import TwilioMediaStreamSerializer
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from . import _moved
from ._logsafe import quote_for_log
from ._version import __version__
from .observe.noise import NoiseFinding
from .observe.observer import CallStats, MediaStatsObserver
from .realtime import OpenAIRealtimeMuLawLLMService, PlaybackTracker, RealtimeMuLawStats
from .recommended import (
    LEAN_INBOUND_FRAME_MS,
    RECOMMENDED_INBOUND_FRAME_MS,
    RECOMMENDED_OUT_10MS_CHUNKS,
    recommended_transport_params,
    recommended_user_aggregator_params,
    recommended_worker_params,
)
from .twilio.binding import BINDING_PARAMETER, BindingCheck, StreamBinder
from .twilio.frames import TwilioMarkEchoFrame, TwilioMarkRequestFrame, TwilioStopFrame
from .twilio.limits import CallLimiter, CallLimitReached, watch_inactivity
from .twilio.protocol import TwilioProtocolError
from .twilio.rest import TwilioCallUpdate
from .twilio.security import (
    BodyTooLarge,
    SignatureCheck,
    TwilioSignatureValidator,
    read_body_capped,
    require_twilio_signature,
)
from .twilio.serializer import TwilioMediaStreamSerializer, TwilioStreamStats

if _TYPE_CHECKING:
    from .runner import TwilioCall, TwilioStreamRefused, TwilioTransport, create_twilio_transport
    from .twilio.playout import DEFAULT_SEND_AHEAD_MS, SendAheadOutputTransport, SendAheadWebsocketTransport

# The transport names import Pipecat's FastAPI websocket transport (and FastAPI): only on first use, so
# ``import pipecat_twilio_realtime`` stays light for a bot on another transport and for the simulator.
_LAZY = {
    "DEFAULT_SEND_AHEAD_MS": ".twilio.playout",
    "SendAheadOutputTransport": ".twilio.playout",
    "SendAheadWebsocketTransport": ".twilio.playout",
    "TwilioCall": ".runner",
    "TwilioStreamRefused": ".runner",
    "TwilioTransport": ".runner",
    "create_twilio_transport": ".runner",
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [  # noqa: RUF022 - plain sorted(), as tests/test_public_api.py checks
    "BINDING_PARAMETER",
    "BindingCheck",
    "BodyTooLarge",
    "CallLimitReached",
    "CallLimiter",
    "CallStats",
    "DEFAULT_SEND_AHEAD_MS",
    "LEAN_INBOUND_FRAME_MS",
    "MediaStatsObserver",
    "NoiseFinding",
    "OpenAIRealtimeMuLawLLMService",
    "PlaybackTracker",
    "RECOMMENDED_INBOUND_FRAME_MS",
    "RECOMMENDED_OUT_10MS_CHUNKS",
    "RealtimeMuLawStats",
    "SendAheadOutputTransport",
    "SendAheadWebsocketTransport",
    "SignatureCheck",
    "StreamBinder",
    "TwilioCall",
    "TwilioCallUpdate",
    "TwilioMarkEchoFrame",
    "TwilioMarkRequestFrame",
    "TwilioMediaStreamSerializer",
    "TwilioProtocolError",
    "TwilioSignatureValidator",
    "TwilioStopFrame",
    "TwilioStreamRefused",
    "TwilioStreamStats",
    "TwilioTransport",
    "__version__",
    "create_twilio_transport",
    "quote_for_log",
    "read_body_capped",
    "recommended_transport_params",
    "recommended_user_aggregator_params",
    "recommended_worker_params",
    "require_twilio_signature",
    "watch_inactivity",
]

_moved.install()  # the 0.1 module paths, deprecated aliases until 0.3.0
