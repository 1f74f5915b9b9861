"""The local OpenAI Realtime stand-in.

``server.py`` (:class:`RealtimeStandIn`: configuration, session, turns, items) builds on ``base.py``
(socket, recording, dispatch) and ``speaking.py`` (replies); the pure parts are ``validation.py``,
``session.py``, ``items.py``, ``replies.py``, ``vad.py``; ``faults.py`` holds the misbehaviour switches.
"""

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
