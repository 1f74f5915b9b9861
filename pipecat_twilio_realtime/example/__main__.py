"""``pipecat-twilio-bot`` (or ``python -m pipecat_twilio_realtime.example``): serve the example bot."""

from __future__ import annotations

import os
import sys

from .app import create_app
from .settings import ConfigError, load_settings


def main() -> None:
    """Serve the bot (``HOST``/``PORT`` from the environment, default 0.0.0.0:8765; ``.env`` is read first).

    A missing or invalid setting stops it with one line naming the setting (exit status 2).
    """
    import uvicorn
    from dotenv import find_dotenv, load_dotenv

    load_dotenv(find_dotenv(usecwd=True))  # the .env of the working directory (or above), not the package's
    try:
        settings = load_settings()
    except ConfigError as e:
        print(f"pipecat-twilio-bot: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    host = os.environ.get("HOST", "0.0.0.0")  # noqa: S104 - Twilio (or your tunnel) must reach it
    uvicorn.run(create_app(settings), host=host, port=int(os.environ.get("PORT", "8765")))


if __name__ == "__main__":
    main()
