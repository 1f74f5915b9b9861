"""What a stranger costs the example app: the issue-11 attacks over real HTTP/websockets, with the bill.

    python benchmarks/bench_attacks.py [--streams 50] [--quick]

Runs the example app (signed mode, default bounds unless changed) in this process on 127.0.0.1 with the
Realtime stand-in and a fake Twilio REST server, then attacks it: replayed handshakes with victims'
CallSids, N silent streams that send only ``start``, and a 300 MB webhook body. Prints the OpenAI sessions
opened, the REST requests made and the process's RSS (current and peak) around each attack.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import resource
import time
from pathlib import Path
from typing import Any

import aiohttp
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from pipecat_twilio_realtime import BINDING_PARAMETER
from pipecat_twilio_realtime.example import create_app, load_settings
from pipecat_twilio_realtime.testing import RealtimeStandIn, serve_app

TOKEN = "bench-token-0123456789abcdef"
HOST = "bot.example"
ACCOUNT = "AC" + "0" * 31 + "1"


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def start(call_sid: str, stream_sid: str, token: str | None) -> str:
    custom = {BINDING_PARAMETER: token} if token else {}
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": stream_sid,
            "start": {
                "accountSid": ACCOUNT,
                "streamSid": stream_sid,
                "callSid": call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": custom,
            },
        }
    )


def fake_rest(posts: list[str]) -> FastAPI:
    app = FastAPI()

    @app.post("/2010-04-01/Accounts/{account}/Calls/{call}.json")
    async def update(account: str, call: str, request: Request) -> JSONResponse:
        posts.append(call)
        return JSONResponse({"sid": call, "account_sid": account, "status": "completed"})

    return app


async def webhook(port: int, call_sid: str) -> str:
    form = {"CallSid": call_sid, "AccountSid": ACCOUNT, "From": "+15551234567"}
    sig = RequestValidator(TOKEN).compute_signature(f"https://{HOST}/twiml", form)
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"http://127.0.0.1:{port}/twiml", data=form, headers={"X-Twilio-Signature": sig}) as r,
    ):
        return await r.text()


def handshake_signature() -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(f"wss://{HOST}/ws", {})}


async def until_closed(ws: Any, limit_s: float) -> None:
    try:
        async with asyncio.timeout(limit_s):
            while True:
                await ws.recv()
    except (ConnectionClosed, TimeoutError):
        pass


async def main() -> None:
    """Run the attacks and print the bill."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=50, help="silent streams to open")
    parser.add_argument("--quick", action="store_true", help="a small run (smoke test)")
    args = parser.parse_args()
    streams = 6 if args.quick else args.streams
    posts: list[str] = []
    async with RealtimeStandIn(speed=8.0) as standin, serve_app(fake_rest(posts)) as rest_port:
        client = Client(ACCOUNT, TOKEN, http_client=AsyncTwilioHttpClient())
        client.api.base_url = f"http://127.0.0.1:{rest_port}"
        env = {
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_REALTIME_URL": standin.url,
            "TWILIO_ACCOUNT_SID": ACCOUNT,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "PUBLIC_HOST": HOST,
        }
        settings = load_settings(env)
        if args.quick:
            settings = dataclasses.replace(settings, max_calls=2, inactivity_timeout_secs=1.0)
        app = create_app(settings, twilio_client=client)
        async with serve_app(app) as port:
            url = f"ws://127.0.0.1:{port}/ws"
            print(
                f"example app, signed mode: MAX_CALLS={settings.max_calls}, "
                f"INACTIVITY_TIMEOUT_SECS={settings.inactivity_timeout_secs:g}"
            )
            print(f"start: RSS {rss_mb():.0f} MB")

            # 1. replayed handshake + victims' CallSids
            twiml = await webhook(port, "CA" + "cd" * 16)
            attacker_token = re.search(r'value="([^"]{40,})"', twiml).group(1)  # type: ignore[union-attr]
            for victim, token in (("CA" + "ab" * 16, None), ("CA" + "ef" * 16, attacker_token)):
                async with connect(url, additional_headers=handshake_signature()) as ws:
                    await ws.send(start(victim, "MZ" + "0" * 32, token))
                    await until_closed(ws, 10)
            await asyncio.sleep(0.5)
            print(
                "1. two replayed handshakes with victims' CallSids: "
                f"OpenAI sessions {len(standin.connections)}, REST requests {len(posts)}"
            )

            # 2. silent streams: each signed webhook, then 'start' and nothing
            sessions_before = len(standin.connections)
            tokens = []
            for n in range(streams):
                call = f"CA{n + 1:032x}"
                tokens.append((call, re.search(r'value="([^"]{40,})"', await webhook(port, call))))
            opened, refused = [], 0
            began = time.monotonic()
            for n, (call, match) in enumerate(tokens):
                try:
                    ws = await connect(url, additional_headers=handshake_signature())
                except InvalidStatus:
                    refused += 1
                    continue
                await ws.send(start(call, f"MZ{n + 1:032x}", match.group(1) if match else None))
                opened.append(ws)
            await asyncio.sleep(1.0)
            print(
                f"2. {streams} silent streams: OpenAI sessions opened "
                f"{len(standin.connections) - sessions_before} (cap {settings.max_calls}), "
                f"refused before accept {refused}; RSS {rss_mb():.0f} MB"
            )
            await asyncio.gather(*(until_closed(ws, settings.inactivity_timeout_secs + 20) for ws in opened))
            closed_after = time.monotonic() - began
            for ws in opened:
                await ws.close()
            print(
                f"   all closed by the inactivity bound after {closed_after:.1f} s; "
                f"REST hang-ups of their own calls {len(posts)}; "
                f"RSS {rss_mb():.0f} MB, peak {peak_mb():.0f} MB"
            )

            # 3. a 300 MB webhook body (declared), refused before it is read
            before = rss_mb()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"POST /twiml?bodySHA256=00 HTTP/1.1\r\nHost: bot.example\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 300000000\r\n\r\n"
            )
            for _ in range(16):
                writer.write(b"a" * 65536)
            await writer.drain()
            status = (await asyncio.wait_for(reader.readline(), 10)).split()[1].decode()
            writer.close()
            print(f"3. a 300 MB webhook body: HTTP {status}; RSS {before:.0f} -> {rss_mb():.0f} MB")
        session = getattr(client.http_client, "session", None)
        if session is not None:
            await session.close()


if __name__ == "__main__":
    asyncio.run(main())
