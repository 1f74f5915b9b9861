"""The OpenAI Realtime side: Pipecat's Realtime service pinned to G.711 μ-law both ways.

``service.py`` holds :class:`OpenAIRealtimeMuLawLLMService`; the rest are its parts: what the caller has
heard (``playback.py``), the counters (``stats.py``), the session settings it insists on
(``session_format.py``, ``voices.py``), the noise guard on replies (``reply_guard.py``), the session's
life — opening with chosen limits (``connection.py``), its clocks (``watch.py``), losing and reopening it
(``lifecycle.py``) and what the caller hears when it cannot go on (``fallback.py``) — and its seams with
Pipecat's stock service (``seams.py``).
"""

from .connection import MAX_MESSAGE_BYTES
from .fallback import APOLOGY_TEXT, load_apology
from .playback import PlaybackTracker
from .seams import StockSeams, stock_seams
from .service import OpenAIRealtimeMuLawLLMService
from .session_format import PHONE_TURN_DETECTION
from .stats import RealtimeMuLawStats

__all__ = [
    "APOLOGY_TEXT",
    "MAX_MESSAGE_BYTES",
    "PHONE_TURN_DETECTION",
    "OpenAIRealtimeMuLawLLMService",
    "PlaybackTracker",
    "RealtimeMuLawStats",
    "StockSeams",
    "load_apology",
    "stock_seams",
]
