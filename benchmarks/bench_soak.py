"""Soak: thousands of short mixed calls against ONE example-bot process; then a flood beside a normal call.

    python benchmarks/bench_soak.py [--calls 2000] [--concurrency 8] [--quick] [--tracemalloc] [--no-flood]

The bot is the example app (signed mode, ``MAX_CALLS`` = twice the concurrency) under uvicorn in its own
process (``--serve-bot``), pointed at the Realtime stand-in and a fake Twilio REST server that run here, with
``BOT_DEBUG_ENDPOINTS=1`` so ``/debug/process`` reports its RSS, open fds, threads, asyncio tasks and
gc-tracked objects (``pipecat_twilio_realtime/example/debug.py``).

1. soak: ``--concurrency`` callers place calls from a fixed mix (:data:`MIX`): normal calls (signed
   webhook, a question over the greeting, the reply), streams that send only ``start`` (ended by the
   inactivity bound), calls dropped mid-call (socket closed without ``stop``: a close handshake or a TCP
   abort), and refusals (bad handshake signature, forged binding token). After each block of calls the
   cap is probed: ``MAX_CALLS`` streams fill it, one more stream is refused at the cap and a webhook
   answered busy, then the fillers fall silent (ended by the inactivity bound). Samples are taken when a
   block has ended and the bot is idle (garbage collected first): after the warm-up, then every
   ``--sample-every`` calls. Prints the table and the drift after
   the warm-up. ``--tracemalloc`` runs the bot under ``PYTHONTRACEMALLOC`` and prints the source lines
   whose live memory grew most from the warm-up to the end (slow: for finding retention, not for numbers).
2. flood vs neighbour: one normal call (greeting, two questions) alone, then again while a second bound
   stream floods ``--flood-rate`` media/s (80x real time), then once more with the serializer's
   2x-real-time cut disabled (``SOAK_NO_RATE_CUT=1``, in this benchmark's bot only): reply latency, gaps
   the caller heard, the bot's CPU and the flood audio that reached OpenAI.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import itertools
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from bench_attacks import ACCOUNT
from bench_attacks import start as twilio_start  # the same signed start message as the attacks use
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from loguru import logger
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State

from pipecat_twilio_realtime import BINDING_PARAMETER
from pipecat_twilio_realtime.testing import (
    RealtimeStandIn,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    load_clip,
    serve_app,
)

HERE = Path(__file__).resolve()
TOKEN = "soak-token-0123456789abcdef"
HOST = "bot.example"
TICK = os.sysconf("SC_CLK_TCK")
QUESTION = load_clip("caller_question")[: 8 * 1200]  # the first 1.2 s: a short question
MIX = (
    "normal",
    "dropped",
    "start_only",
    "normal",
    "bad_signature",
    "aborted",
    "normal",
    "start_only",
    "bad_token",
    "normal",
)
"""The call kinds the soak's callers cycle through (the cap probe adds start-only streams and refusals)."""
CAP_FACTOR = 2
"""``MAX_CALLS`` is the concurrency times this: a call's slot is freed only once the bot has torn the call
down, a while after its caller saw it end (a stream refused at the cap anyway is counted as such)."""


# ---------------------------------------------------------------------------------------------- the bot


def serve_bot() -> None:
    """``--serve-bot``: the example app in this process, settings from the environment; print the port."""
    import uvicorn
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    from pipecat_twilio_realtime.example import create_app, load_settings

    logger.remove()
    logger.add(sys.stderr, level=os.environ.get("SOAK_LOG_LEVEL", "WARNING"))
    if os.environ.get("SOAK_NO_RATE_CUT") == "1":  # the flood run without the 2x-real-time cut
        _disable_rate_cut()

    async def main() -> None:
        client = Client(ACCOUNT, TOKEN, http_client=AsyncTwilioHttpClient())  # needs the running loop
        client.api.base_url = os.environ["SOAK_REST_URL"]
        app = create_app(load_settings(), twilio_client=client)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.02)
        print(server.servers[0].sockets[0].getsockname()[1], flush=True)
        await task

    asyncio.run(main())


def _disable_rate_cut() -> None:
    from pipecat_twilio_realtime import TwilioMediaStreamSerializer
    from pipecat_twilio_realtime.example import pipeline

    class Uncut(TwilioMediaStreamSerializer):
        def __init__(self, *args: Any, params: Any = None, **kwargs: Any) -> None:
            params = (params or self.InputParams()).model_copy(update={"max_inbound_rate": 0.0})
            super().__init__(*args, params=params, **kwargs)

    pipeline.TwilioMediaStreamSerializer = Uncut  # type: ignore[misc]


def fake_rest(posts: list[str]) -> FastAPI:
    """Twilio's REST API, as far as hang-up goes."""
    app = FastAPI()

    @app.post("/2010-04-01/Accounts/{account}/Calls/{call}.json")
    async def update(account: str, call: str, request: Request) -> JSONResponse:
        posts.append(call)
        return JSONResponse({"sid": call, "account_sid": account, "status": "completed"})

    return app


class SoakStandIn(RealtimeStandIn):
    """The stand-in, forgetting its recordings between blocks (a soak would keep every event otherwise)."""

    def forget(self) -> None:
        self.received.clear()
        self.sent.clear()
        self.errors.clear()
        self.connections.clear()
        self.sessions.clear()
        self._ordered.clear()
        self.appended_audio = self.reply_audio = b""


@dataclass
class Bot:
    """The bot process and how to reach it."""

    proc: asyncio.subprocess.Process
    port: int
    http: aiohttp.ClientSession
    log: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    async def get(self, path: str) -> Any:
        async with self.http.get(f"http://127.0.0.1:{self.port}{path}") as r:
            return await r.json()

    async def post(self, path: str) -> Any:
        async with self.http.post(f"http://127.0.0.1:{self.port}{path}") as r:
            return await r.json()

    async def idle_sample(self, settle_s: float = 5.0) -> dict[str, int]:
        """A sample once no call is live and the task count has stopped falling (at most ``settle_s``)."""
        deadline = time.monotonic() + settle_s
        previous: dict[str, int] | None = None
        while True:
            ready = await self.get("/readyz")
            sample: dict[str, int] = await self.get("/debug/process?gc=1")
            if ready["active_calls"] == 0 and previous and sample["tasks"] >= previous["tasks"]:
                return sample
            if time.monotonic() > deadline:
                return sample
            previous = sample
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def bot_process(
    realtime_url: str,
    rest_url: str,
    max_calls: int,
    *,
    tracemalloc: bool = False,
    no_rate_cut: bool = False,
    inactivity_s: float = 0.5,
) -> AsyncIterator[Bot]:
    """Start the example bot under uvicorn in a subprocess; stop it on exit."""
    log = Path(tempfile.mkstemp(prefix="soak-bot-", suffix=".log")[1])
    env = {
        **os.environ,
        "OPENAI_API_KEY": "sk-soak",
        "OPENAI_REALTIME_URL": realtime_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "PUBLIC_HOST": HOST,
        "MAX_CALLS": str(max_calls),
        "INACTIVITY_TIMEOUT_SECS": str(inactivity_s),
        "BOT_DEBUG_ENDPOINTS": "1",
        "SOAK_REST_URL": rest_url,
        "SOAK_NO_RATE_CUT": "1" if no_rate_cut else "0",
    }
    if tracemalloc:
        env["PYTHONTRACEMALLOC"] = "1"
    with log.open("wb") as err:  # noqa: ASYNC230 - once, before the bot starts
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE), "--serve-bot", stdout=asyncio.subprocess.PIPE, stderr=err, env=env
        )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 90)
        if not line.strip():
            raise RuntimeError(f"the bot did not start: {log.read_text()[-2000:]}")  # noqa: ASYNC240
        # no keep-alive: the bot's open fds then hold no idle connection of ours between samples
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            yield Bot(proc, int(line), http, log)
    finally:
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


# ---------------------------------------------------------------------------------------------- calls


def _signature(url: str, form: dict[str, str] | None = None, token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, form or {})}


async def webhook(bot: Bot, call_sid: str) -> str | None:
    """The signed webhook for ``call_sid``: its binding token (``None`` when answered busy)."""
    form = {"CallSid": call_sid, "AccountSid": ACCOUNT, "From": "+15551234567"}
    async with bot.http.post(
        f"http://127.0.0.1:{bot.port}/twiml", data=form, headers=_signature(f"https://{HOST}/twiml", form)
    ) as r:
        twiml = await r.text()
    match = re.search(rf'name="{BINDING_PARAMETER}" value="([^"]+)"', twiml)
    return match.group(1) if match else None


def _media(stream_sid: str, n: int, payload: str) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(n + 2),
            "streamSid": stream_sid,
            "media": {"track": "inbound", "chunk": str(n + 1), "timestamp": str(n * 20), "payload": payload},
        }
    )


SILENT_PAYLOAD = base64.b64encode(b"\xff" * 160).decode()


CLOSE_TIMEOUT_S = 1.0
"""How long a stream we close waits for the bot's close reply before dropping the connection (websockets'
default is 10 s): the bot has the close frame either way, and a dropped call's caller is gone."""


async def open_stream(bot: Bot, call_sid: str, token: str | None, signed: bool = True) -> ClientConnection:
    """A media stream that has sent ``connected`` and ``start``."""
    headers = _signature(f"wss://{HOST}/ws") if signed else {"X-Twilio-Signature": "AAAA"}
    ws = await connect(bot.ws_url, additional_headers=headers, open_timeout=20, close_timeout=CLOSE_TIMEOUT_S)
    await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    await ws.send(twilio_start(call_sid, "MZ" + call_sid[2:], token))
    return ws


async def until_closed(ws: ClientConnection, limit_s: float) -> bool:
    """Wait for the bot to close ``ws``; whether it did within ``limit_s``."""
    try:
        async with asyncio.timeout(limit_s):
            async for _ in ws:
                pass
    except TimeoutError:
        return False
    except ConnectionClosed:
        pass
    return True


async def place_call(bot: Bot, kind: str, n: int) -> tuple[str, float | None]:
    """One call of ``kind``; what happened and (normal calls) the reply latency in seconds."""
    try:
        return await _place_call(bot, kind, n)
    except InvalidStatus as e:
        return f"{kind} stream refused {e.response.status_code}", None
    except ConnectionClosed:  # e.g. the inactivity bound, when a loaded machine delays our media
        return f"{kind} closed early by the bot", None


async def _place_call(bot: Bot, kind: str, n: int) -> tuple[str, float | None]:
    call_sid = f"CA{n:032x}"
    if kind == "bad_signature":
        try:
            ws = await open_stream(bot, call_sid, None, signed=False)
        except InvalidStatus as e:
            return f"refused {e.response.status_code}", None
        await ws.close()
        return "bad_signature ACCEPTED", None
    token = await webhook(bot, call_sid)
    if token is None:
        return "webhook busy", None
    if kind == "normal":
        caller = SimulatedTwilioCaller(
            bot.ws_url,
            [
                WaitForBotAudio(after_s=0.2, timeout_s=10),
                Speech(QUESTION),
                WaitForBotAudio(0.2, timeout_s=10),
            ],
            custom_parameters={BINDING_PARAMETER: token},
            headers=_signature(f"wss://{HOST}/ws"),
            call_sid=call_sid,
            account_sid=ACCOUNT,
            linger_s=0.0,
            open_timeout_s=20,
        )
        report = await caller.run()
        if report.violations:
            return "normal VIOLATION", None
        return (
            ("normal", report.reply_latencies_s[0]) if report.reply_latencies_s else ("normal no reply", None)
        )
    ws = await open_stream(bot, call_sid, "forged" + token[6:] if kind == "bad_token" else token)
    if kind in ("start_only", "bad_token"):
        closed = await until_closed(ws, 10)
        await ws.close()
        return f"{kind} {'closed by bot' if closed else 'NOT CLOSED'}", None
    for i in range(30):  # 0.6 s of caller audio, then gone without 'stop'
        await ws.send(_media("MZ" + call_sid[2:], i, SILENT_PAYLOAD))
        await asyncio.sleep(0.02)
    if kind == "aborted":
        ws.transport.abort()  # the TCP connection dies: no close handshake either
    await ws.close()
    return kind, None


async def probe_cap(bot: Bot, first: int, max_calls: int) -> list[str]:
    """Fill the cap with start-only streams, then one stream and one webhook more; let them time out."""
    outcomes = []
    while (await bot.get("/readyz"))["active_calls"]:  # noqa: ASYNC110 - the bot's slots, over HTTP
        await asyncio.sleep(0.05)
    holders = []
    filled = asyncio.Event()

    async def hold(ws: ClientConnection, stream_sid: str) -> None:  # media until the cap is probed
        for n in itertools.count():
            if filled.is_set():
                return
            try:
                await ws.send(_media(stream_sid, n, SILENT_PAYLOAD))
            except ConnectionClosed:  # the bot ended it: the probe below sees it in the holder's state
                return
            await asyncio.sleep(0.05)  # 10x inside the 0.5 s inactivity bound

    keepers = []
    for i in range(max_calls):
        call_sid = f"CA{first + i:032x}"
        holders.append(await open_stream(bot, call_sid, await webhook(bot, call_sid)))
        keepers.append(asyncio.create_task(hold(holders[-1], "MZ" + call_sid[2:])))
    await asyncio.sleep(0.05)
    over = f"CA{first + max_calls:032x}"
    if (await bot.get("/readyz"))["active_calls"] < max_calls:  # a filler ended early: a loaded machine
        outcomes.append("cap probe skipped: a filler ended early")
    else:
        probed = ["webhook busy" if await webhook(bot, over) is None else "webhook ANSWERED over cap"]
        try:
            ws = await open_stream(bot, over, "no-token")
            probed.append("stream over cap ACCEPTED")
            await ws.close()
        except InvalidStatus as e:
            probed.append(f"over cap refused {e.response.status_code}")
        # A filler the bot ended meanwhile freed a slot: what the probe saw then says nothing of the cap.
        if any(ws.state is not State.OPEN for ws in holders):
            outcomes.append("cap probe inconclusive: a filler ended during it")
        else:
            outcomes.extend(probed)
    filled.set()  # from now on the holders are silent: the inactivity bound ends them
    await asyncio.gather(*keepers)
    for ws in holders:
        outcomes.append("start_only closed by bot" if await until_closed(ws, 10) else "start_only NOT CLOSED")
        await ws.close()
    return outcomes


# ---------------------------------------------------------------------------------------------- soak


@dataclass
class SoakResult:
    """The samples and what the calls did."""

    samples: list[tuple[int, dict[str, int]]] = field(default_factory=list)  # (calls so far, sample)
    outcomes: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_s: float = 0.0
    rest_posts: int = 0
    growth: list[dict[str, Any]] = field(default_factory=list)

    def drift(self) -> dict[str, int]:
        """Last sample minus the first (the first is taken after the warm-up)."""
        (_, first), (_, last) = self.samples[0], self.samples[-1]
        return {k: last[k] - first[k] for k in first}


async def soak(
    calls: int, concurrency: int, warmup: int, sample_every: int, *, tracemalloc: bool = False
) -> SoakResult:
    """Place ``calls`` calls (plus the cap probes) on one bot process; sample it between blocks."""
    result = SoakResult()
    posts: list[str] = []
    numbers = itertools.count(1)
    async with SoakStandIn(speed=8.0) as standin, serve_app(fake_rest(posts)) as rest_port:
        url = f"http://127.0.0.1:{rest_port}"
        cap = concurrency * CAP_FACTOR
        async with bot_process(standin.url, url, cap, tracemalloc=tracemalloc) as bot:
            began, cpu0 = time.monotonic(), bot.cpu_seconds()
            done = 0

            async def block(size: int) -> None:
                nonlocal done
                kinds = iter(MIX[(done + i) % len(MIX)] for i in range(size))

                async def worker() -> None:
                    for kind in kinds:
                        outcome, latency = await place_call(bot, kind, next(numbers))
                        result.outcomes[outcome] += 1
                        if latency is not None:
                            result.latencies_s.append(latency)

                await asyncio.gather(*(worker() for _ in range(concurrency)))
                first = next(numbers)
                for _ in range(cap):
                    next(numbers)
                result.outcomes.update(await probe_cap(bot, first, cap))
                done += size + cap + 2
                standin.forget()

            while done < warmup:
                await block(min(sample_every, warmup))
            result.samples.append((done, await bot.idle_sample()))
            if tracemalloc:  # idle: what lives now is what every later call should leave behind
                await bot.post("/debug/tracemalloc/baseline")
            while done < warmup + calls:
                await block(sample_every)
                result.samples.append((done, await bot.idle_sample()))
                print(f"   {_row(*result.samples[-1])}", file=sys.stderr, flush=True)
            result.seconds, result.cpu_s = time.monotonic() - began, bot.cpu_seconds() - cpu0
            if tracemalloc:
                result.growth = (await bot.get("/debug/tracemalloc?top=15"))["top"]
    result.rest_posts = len(posts)
    return result


def _row(calls: int, s: dict[str, int]) -> str:
    return (
        f"{calls:>7} {s['rss_kb'] / 1024:>8.1f} {s['fds']:>5} {s['threads']:>7} {s['tasks']:>6} "
        f"{s['objects']:>9} {s['traced_kb'] / 1024:>9.1f}"
    )


def print_soak(result: SoakResult) -> None:
    print(
        f"   {'calls':>7} {'RSS MB':>8} {'fds':>5} {'threads':>7} {'tasks':>6} {'objects':>9} "
        f"{'traced MB':>9}"
    )
    for calls, sample in result.samples:
        print(f"   {_row(calls, sample)}")
    drift = result.drift()
    measured = result.samples[-1][0] - result.samples[0][0]
    print(
        f"   drift over {measured} calls after the warm-up: RSS {drift['rss_kb'] / 1024:+.1f} MB, "
        f"fds {drift['fds']:+d}, threads {drift['threads']:+d}, tasks {drift['tasks']:+d}, "
        f"objects {drift['objects']:+d}"
    )
    lat = sorted(result.latencies_s)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else float("nan")
    total = sum(result.outcomes.values())
    print(
        f"   {total} calls in {result.seconds:.0f} s ({total / result.seconds:.1f}/s), bot CPU "
        f"{result.cpu_s / total * 1000:.0f} ms a call; normal reply latency p50 "
        f"{statistics.median(lat) * 1000 if lat else float('nan'):.0f} ms p99 {p99:.0f} ms; "
        f"REST hang-ups {result.rest_posts}"
    )
    print("   outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(result.outcomes.items())))
    for row in result.growth:
        print(f"   grew {row['size_kb']:>9.1f} KB {row['count']:>+7d} blocks  {row['where']}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls after the warm-up")
    parser.add_argument("--concurrency", type=int, default=8, help="callers at once (MAX_CALLS: twice that)")
    parser.add_argument("--warmup", type=int, default=200, help="calls before the first sample")
    parser.add_argument("--sample-every", type=int, default=200, help="calls between samples")
    parser.add_argument("--tracemalloc", action="store_true", help="run the bot under tracemalloc")
    parser.add_argument("--flood-rate", type=int, default=4000, help="media messages a second")
    parser.add_argument("--no-flood", action="store_true", help="skip section 2")
    parser.add_argument("--no-soak", action="store_true", help="skip section 1")
    parser.add_argument("--quick", action="store_true", help="a tiny run (smoke test)")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    if args.quick:
        args.calls, args.warmup, args.sample_every, args.concurrency = 20, 20, 20, 4
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    out: dict[str, Any] = {}
    if not args.no_soak:
        print(f"\n1. soak: {args.calls} calls after {args.warmup} warm-up, {args.concurrency} at once")
        result = await soak(
            args.calls, args.concurrency, args.warmup, args.sample_every, tracemalloc=args.tracemalloc
        )
        print_soak(result)
        out["soak"] = {"samples": result.samples, "drift": result.drift(), "outcomes": result.outcomes}
    if not args.no_flood:
        print(
            f"\n2. flood vs neighbour: one normal call, alone and beside a {args.flood_rate} media/s stream"
        )
        from bench_flood import flood_vs_neighbour, print_flood  # it imports this module

        runs = await flood_vs_neighbour(args.flood_rate, uncut=True)
        print_flood(runs)
        out["flood"] = [dataclasses.asdict(r) for r in runs]
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-bot"]:
        serve_bot()
    else:
        asyncio.run(main())
