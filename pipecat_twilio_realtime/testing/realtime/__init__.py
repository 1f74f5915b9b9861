"""The local OpenAI Realtime stand-in.

``server.py`` (:class:`RealtimeStandIn`: configuration, session, turns, items) builds on ``base.py``
(socket, recording, dispatch) and ``speaking.py`` (replies); the pure parts are ``validation.py``,
``session.py``, ``items.py``, ``replies.py``, ``vad.py``, ``pacing.py``; ``faults.py`` holds the
misbehaviour switches.
"""

from .faults import Faults, refused_url, unused_port
from .pacing import REAL_TIME, ModelPacing, SteadyPacing
from .server import RealtimeStandIn
from .session import SessionRecord
from .vad import EnergyVad
from .validation import extra_field_paths

__all__ = [
    "REAL_TIME",
    "EnergyVad",
    "Faults",
    "ModelPacing",
    "RealtimeStandIn",
    "SessionRecord",
    "SteadyPacing",
    "extra_field_paths",
    "refused_url",
    "unused_port",
]
