"""The example Twilio phone bot: a thin entry point over ``pipecat_twilio_realtime.example``.

Two ways to run it (after ``pip install "pipecat-twilio-realtime[example]"`` and a ``.env`` from
``env.example``)::

    python examples/twilio_bot/bot.py                       # our app: POST /twiml + /ws, signature checks
    python examples/twilio_bot/bot.py -t twilio -x HOST     # under Pipecat's development runner: /ws

With no arguments it serves the package's app (the same as the ``pipecat-twilio-bot`` command): it checks
Twilio's signatures when ``TWILIO_AUTH_TOKEN`` is set, and is the one to put behind a public number.
With arguments it hands over to ``pipecat.runner.run.main()``, which serves its own webhook (``POST /``,
no signature check) and calls :func:`bot` for every websocket on ``/ws``. Either way each call runs the
same pipeline: ``FastAPIWebsocketTransport(TwilioMediaStreamSerializer)`` → context →
``OpenAIRealtimeMuLawLLMService`` → output, pinned at 8000 Hz.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from pipecat.runner.types import WebSocketRunnerArguments
from pipecat.runner.utils import parse_telephony_websocket

from pipecat_twilio_realtime.example import BotSettings, ConfigError, create_app, load_settings, run_bot
from pipecat_twilio_realtime.example.__main__ import main as serve

__all__ = ["BotSettings", "ConfigError", "bot", "create_app", "load_settings"]


async def bot(runner_args: WebSocketRunnerArguments) -> None:
    """One call under Pipecat's runner (``-t twilio``).

    The transport is built by :func:`run_bot` with our serializer; ``pipecat.runner.utils.create_transport()``
    is not used because it always swaps in Pipecat's stock Twilio serializer.

    Args:
        runner_args: The runner's websocket arguments (the websocket is already accepted).
    """
    settings = load_settings()
    try:
        async with asyncio.timeout(settings.start_timeout_secs):
            transport_type, call_data = await parse_telephony_websocket(runner_args.websocket)
    except (TimeoutError, ValueError):  # no start in time, or the socket closed first
        transport_type, call_data = "", None
    if transport_type != "twilio" or call_data is None or not call_data.stream_id:
        with contextlib.suppress(RuntimeError):  # already closed by the peer
            await runner_args.websocket.close(code=1008)
        return
    # The runner's websocket is unsigned: never hang up through Twilio's REST API on its say-so.
    await run_bot(runner_args.websocket, settings, stream_sid=call_data.stream_id, call_sid=None)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        from dotenv import find_dotenv, load_dotenv
        from pipecat.runner.run import main as pipecat_runner

        load_dotenv(find_dotenv(usecwd=True))
        pipecat_runner()
    else:
        serve()
