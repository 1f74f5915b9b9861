"""The OpenAI Realtime side: Pipecat's Realtime service pinned to G.711 μ-law both ways.

``service.py`` holds :class:`OpenAIRealtimeMuLawLLMService`; the rest are its parts: what the caller has
heard (``playback.py``), the counters (``stats.py``), the session settings it insists on
(``session_format.py``, ``voices.py``), the noise guard on replies (``reply_guard.py``) and its seams with
Pipecat's stock service (``seams.py``).
"""

from .playback import PlaybackTracker
from .seams import StockSeams, stock_seams
from .service import OpenAIRealtimeMuLawLLMService
from .session_format import PHONE_TURN_DETECTION
from .stats import RealtimeMuLawStats

__all__ = [
    "PHONE_TURN_DETECTION",
    "OpenAIRealtimeMuLawLLMService",
    "PlaybackTracker",
    "RealtimeMuLawStats",
    "StockSeams",
    "stock_seams",
]
