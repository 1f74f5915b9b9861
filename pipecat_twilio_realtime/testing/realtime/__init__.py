"""The local OpenAI Realtime stand-in: server, strict validation, session, replies, VAD, faults."""

from .faults import Faults, refused_url, unused_port
from .server import RealtimeStandIn
from .session import SessionRecord
from .vad import EnergyVad
from .validation import extra_field_paths

__all__ = [
    "EnergyVad",
    "Faults",
    "RealtimeStandIn",
    "SessionRecord",
    "extra_field_paths",
    "refused_url",
    "unused_port",
]
