"""The example phone bot, shipped in the wheel (needs the ``[example]`` extra: FastAPI, uvicorn, dotenv).

Serve it with ``pipecat-twilio-bot`` (or ``python -m pipecat_twilio_realtime.example``); call it offline
with ``pipecat-twilio-simulate``. ``examples/twilio_bot/bot.py`` is a thin entry point over these names.
Importing :mod:`pipecat_twilio_realtime` itself never imports this subpackage (nor FastAPI).
"""

from .app import StreamStart, create_app, create_app_from_env, turn_away_twiml, twiml_for, wait_for_start
from .pipeline import build_llm, run_bot
from .service import CallService, LiveCall
from .settings import DEFAULT_PROMPT, BotSettings, ConfigError, load_settings
from .tools import TOOLS, end_call, get_opening_hours

__all__ = [
    "DEFAULT_PROMPT",
    "TOOLS",
    "BotSettings",
    "CallService",
    "ConfigError",
    "LiveCall",
    "StreamStart",
    "build_llm",
    "create_app",
    "create_app_from_env",
    "end_call",
    "get_opening_hours",
    "load_settings",
    "run_bot",
    "turn_away_twiml",
    "twiml_for",
    "wait_for_start",
]
