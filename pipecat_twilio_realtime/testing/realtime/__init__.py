"""The local OpenAI Realtime stand-in: server, strict validation, session, replies, VAD, faults."""

from .faults import Faults
from .server import RealtimeStandIn
from .vad import EnergyVad
from .validation import extra_field_paths

__all__ = ["EnergyVad", "Faults", "RealtimeStandIn", "extra_field_paths"]
