"""Place an outbound call with the ``twilio`` SDK that streams to the example bot.

    python examples/twilio_bot/call.py +15551234567

Needs ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``, ``TWILIO_FROM_NUMBER`` and ``PUBLIC_HOST``
(see env.example), with the bot (``pipecat-twilio-bot`` or ``bot.py``) running and reachable at ``wss://PUBLIC_HOST/ws``.
"""

from __future__ import annotations

import os
import sys

from dotenv import load_dotenv
from twilio.rest import Client

from pipecat_twilio_realtime.example import twiml_for


def main(argv: list[str]) -> int:
    """Call the number in ``argv[1]`` and connect it to the bot."""
    load_dotenv()
    if len(argv) != 2:
        print("usage: python examples/twilio_bot/call.py +15551234567", file=sys.stderr)
        return 2
    names = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER", "PUBLIC_HOST")
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        print(f"error: {', '.join(missing)} not set (see examples/twilio_bot/env.example)", file=sys.stderr)
        return 2
    client = Client(os.environ["TWILIO_ACCOUNT_SID"], os.environ["TWILIO_AUTH_TOKEN"])
    call = client.calls.create(
        to=argv[1],
        from_=os.environ["TWILIO_FROM_NUMBER"],
        twiml=twiml_for(os.environ["PUBLIC_HOST"], {"caller": argv[1], "direction": "outbound"}),
    )
    print(f"calling {argv[1]}: call SID {call.sid}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
