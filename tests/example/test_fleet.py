"""A real fleet: 3 example-bot processes behind haproxy, sharing one call cap through a real redis-server.

Every component runs on 127.0.0.1 random ports, started here: ``redis-server``, the Realtime stand-in (in
this process), three ``python -m pipecat_twilio_realtime.example`` processes (uvicorn) and ``haproxy``
(round robin, HTTP mode: websockets pass as upgrades; config in ``tests/_fleet_helpers.py`` and
docs/operations.md). Calls are signed as Twilio signs them, so each stream must carry the binding token
its webhook minted, and with round robin the webhook and its stream land on different processes.
Without redis-server or haproxy these tests skip with the command that installs them.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from pipecat_twilio_realtime import BINDING_PARAMETER
from pipecat_twilio_realtime.testing import (
    CallerReport,
    RealtimeStandIn,
    Silence,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    WaitForBotSilence,
    load_clip,
)

from .._fleet_helpers import RedisServer, haproxy, haproxy_config, need, redis_server
from .test_service_ops import NS, BotProcess, bot_process

pytestmark = pytest.mark.fleet

TOKEN = "fleet-test-token-not-a-secret-00"
ACCOUNT_SID = "AC" + "0f" * 16
HOST = "bot.example"  # PUBLIC_HOST: what Twilio signs, whatever host the balancer is reached at
PROCESSES = 3
GLOBAL_CAP = 2


def sign(url: str, params: dict[str, str] | None = None) -> str:
    return RequestValidator(TOKEN).compute_signature(url, params or {})


def new_call_sid() -> str:
    return "CA" + uuid.uuid4().hex


@dataclass
class Fleet:
    """The processes, the balancer's port, Redis and the stand-in."""

    bots: list[BotProcess]
    lb_port: int
    redis: RedisServer
    standin: RealtimeStandIn

    def bot(self, served_by: str) -> BotProcess:
        """The process haproxy named in ``X-Served-By`` (``bot1``… in backend order)."""
        return self.bots[int(served_by.removeprefix("bot")) - 1]

    async def webhook(self, call_sid: str, caller: str = "+15550100001") -> tuple[str, str]:
        """POST Twilio's signed webhook to the balancer; returns (TwiML, the process that answered)."""
        form = {"CallSid": call_sid, "AccountSid": ACCOUNT_SID, "From": caller, "To": "+15550109999"}
        headers = {"X-Twilio-Signature": sign(f"https://{HOST}/twiml", form)}
        async with (
            aiohttp.ClientSession() as client,
            client.post(f"http://127.0.0.1:{self.lb_port}/twiml", data=form, headers=headers) as response,
        ):
            assert response.status == 200, await response.text()
            return await response.text(), response.headers["X-Served-By"]

    def caller(self, call_sid: str, twiml: str, script: list[Any]) -> SimulatedTwilioCaller:
        """The stream Twilio opens for that TwiML, through the balancer."""
        parameters = {
            html.unescape(name): html.unescape(value)
            for name, value in re.findall(r'<Parameter name="([^"]*)" value="([^"]*)"', twiml)
        }
        assert BINDING_PARAMETER in parameters, twiml
        return SimulatedTwilioCaller(
            f"ws://127.0.0.1:{self.lb_port}/ws",
            script,
            custom_parameters=parameters,
            headers={"X-Twilio-Signature": sign(f"wss://{HOST}/ws")},
            call_sid=call_sid,
            account_sid=ACCOUNT_SID,
        )

    async def refused_stream(self) -> str:
        """Open a signed stream through the balancer that must be refused; returns who refused it."""
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                f"ws://127.0.0.1:{self.lb_port}/ws",
                additional_headers={"X-Twilio-Signature": sign(f"wss://{HOST}/ws")},
            ):
                pass
        assert refused.value.response.status_code == 403  # closed before accept: no session opened
        return refused.value.response.headers["X-Served-By"]

    def stream_served_by(self, call_sid: str) -> int:
        """Which process serves the stream of ``call_sid`` (its log line ``call CA… stream MZ… starts``)."""
        hits = [n for n, b in enumerate(self.bots) if re.search(f"call {call_sid} stream .* starts", read(b))]
        assert len(hits) == 1, hits
        return hits[0]

    async def readyz(self) -> list[tuple[int, dict[str, Any]]]:
        """Each process's own ``/readyz`` (asked directly, not through the balancer)."""
        out = []
        for bot in self.bots:
            async with aiohttp.ClientSession() as client, client.get(bot.base + "/readyz") as response:
                out.append((response.status, await response.json()))
        return out

    async def wait_fleet(self, active: int, limit_s: float = 30) -> list[tuple[int, dict[str, Any]]]:
        """Until every process's ``/readyz`` counts ``active`` calls in the fleet (slots free async)."""
        async with asyncio.timeout(limit_s):
            while True:
                ready = await self.readyz()
                if all(body["active_calls"] == active for _, body in ready):
                    return ready
                await asyncio.sleep(0.1)


def read(bot: BotProcess) -> str:
    return bot.log.read_text(errors="replace")


@asynccontextmanager
async def fleet(tmp_path: Path, **env: str) -> AsyncIterator[Fleet]:
    need("redis-server")
    need("haproxy")
    async with AsyncExitStack() as stack:
        redis = stack.enter_context(redis_server(tmp_path))
        standin = await stack.enter_async_context(RealtimeStandIn(speed=8.0))
        settings = {
            "REDIS_URL": redis.url,
            "MAX_CALLS": str(GLOBAL_CAP),
            "MAX_CALLS_PER_PROCESS": "2",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "PUBLIC_HOST": HOST,
            "INACTIVITY_TIMEOUT_SECS": "30",
            **env,
        }
        starting = [
            stack.enter_async_context(bot_process(tmp_path, standin.url, **settings)) for _ in range(3)
        ]
        bots = list(await asyncio.gather(*starting))  # their imports take seconds: in parallel
        lb_port = stack.enter_context(haproxy(tmp_path, [b.port for b in bots]))
        yield Fleet(bots, lb_port, redis, standin)


async def heard_greeting(caller: SimulatedTwilioCaller, limit_s: float = 30) -> None:
    """Until the caller has heard the whole greeting (it plays at real time, 4 s)."""
    greeting = len(load_clip("bot_greeting")) - 160
    async with asyncio.timeout(limit_s):
        while len(caller.report.heard) < greeting:
            await asyncio.sleep(0.1)


def long_call() -> list[Any]:
    """Greeting, then stay on (the test hangs up)."""
    return [WaitForBotAudio(after_s=0.2), Silence(120)]


async def place(
    f: Fleet, script: list[Any], caller: str = "+15550100001"
) -> tuple[asyncio.Task[CallerReport], Any]:
    """Webhook then stream, through the balancer; returns the running call and its caller."""
    call_sid = new_call_sid()
    twiml, _ = await f.webhook(call_sid, caller)
    assert "<Connect>" in twiml, twiml
    simulated = f.caller(call_sid, twiml, script)
    return asyncio.create_task(simulated.run()), simulated


async def test_call_n_plus_1_is_refused_wherever_it_lands_then_admitted_when_one_ends(tmp_path: Path) -> None:
    async with fleet(tmp_path) as f:
        calls, callers = [], []
        landed = []
        for _ in range(GLOBAL_CAP):
            call_sid = new_call_sid()
            twiml, webhook_by = await f.webhook(call_sid)
            assert "<Connect>" in twiml, twiml
            simulated = f.caller(call_sid, twiml, long_call())
            calls.append(asyncio.create_task(simulated.run()))
            callers.append(simulated)
            await f.wait_fleet(len(calls))
            landed.append((f.bots.index(f.bot(webhook_by)), f.stream_served_by(call_sid)))
        # round robin sends each stream to another process than its webhook: the binding is stateless
        assert all(webhook != stream for webhook, stream in landed), landed

        ready = await f.wait_fleet(GLOBAL_CAP)
        assert all(status == 503 and body["reason"] == "at_cap" for status, body in ready), ready
        assert all(body["max_calls"] == GLOBAL_CAP and body["limits"] == "shared" for _, body in ready)
        # metrics: each process's own /metrics, summed (what Prometheus does across scrape targets)
        per_process = [await b.metrics() for b in f.bots]
        assert sum(m[f"{NS}calls_active"] for m in per_process) == GLOBAL_CAP
        assert all(m[f"{NS}fleet_calls_active"] == GLOBAL_CAP for m in per_process)
        assert all(m[f"{NS}shared_limits_fallback"] == 0 for m in per_process)

        # call N+1: its webhook is answered busy by every process (round robin visits all three) ...
        busy_by = set()
        for _ in range(PROCESSES):
            twiml, served_by = await f.webhook(new_call_sid())
            assert '<Reject reason="busy" />' in twiml and "<Connect>" not in twiml, twiml
            busy_by.add(served_by)
        assert len(busy_by) == PROCESSES, busy_by
        # ... and a stream that comes anyway (a webhook answered just before the cap) is refused by each
        refused_by = {await f.refused_stream() for _ in range(PROCESSES)}
        assert len(refused_by) == PROCESSES, refused_by
        refusals = [await b.metrics() for b in f.bots]
        assert all(m[f'{NS}calls_refused_total{{kind="webhook",reason="at_cap"}}'] == 1 for m in refusals)
        assert all(m[f'{NS}calls_refused_total{{kind="stream",reason="at_cap"}}'] == 1 for m in refusals)
        assert len(f.standin.connections) == GLOBAL_CAP  # no OpenAI session for a refused call

        await heard_greeting(callers[0])
        callers[0].hang_up()  # one call ends ...
        first = await asyncio.wait_for(calls[0], 30)
        ready = await f.wait_fleet(GLOBAL_CAP - 1)
        assert all(status == 200 for status, _ in ready), ready
        admitted, simulated = await place(
            f, [WaitForBotAudio(after_s=0.2), WaitForBotSilence()]
        )  # ... N+1 is in
        report = await asyncio.wait_for(admitted, 60)
        greeting = len(load_clip("bot_greeting")) - 160
        assert report.violations == [] and not report.bot_closed_first and len(report.heard) >= greeting
        await heard_greeting(callers[1])
        callers[1].hang_up()
        second = await asyncio.wait_for(calls[1], 30)
        for r in (first, second):  # each heard its whole greeting, and hung up itself
            assert r.violations == [] and not r.bot_closed_first and len(r.heard) >= greeting, r.events
        await f.wait_fleet(0)
    for bot in f.bots:
        assert "Traceback" not in read(bot), read(bot)[-3000:]


async def test_a_caller_is_limited_across_the_fleet(tmp_path: Path) -> None:
    number = "+15550100007"
    async with fleet(tmp_path, MAX_CALLS="5", MAX_CALLS_PER_CALLER="1") as f:
        # two calls from one number ring at once: both webhooks pass (no stream yet) ...
        sid_a, sid_b = new_call_sid(), new_call_sid()
        (twiml_a, _), (twiml_b, _) = [await f.webhook(sid, caller=number) for sid in (sid_a, sid_b)]
        first = f.caller(sid_a, twiml_a, long_call())
        running = asyncio.create_task(first.run())
        await f.wait_fleet(1)
        # ... and the second stream is refused after its start, wherever it lands, before any session
        late = await f.caller(sid_b, twiml_b, [WaitForBotAudio(timeout_s=10)]).run()
        assert late.bot_closed_first and late.heard == bytearray()
        refused = [await b.metrics() for b in f.bots]
        key = f'{NS}calls_refused_total{{kind="stream",reason="caller_limit"}}'
        assert sum(m.get(key, 0) for m in refused) == 1
        assert len(f.standin.connections) == 1
        turned_away = set()
        for _ in range(PROCESSES):  # the same number again, on every process: busy at the webhook
            twiml, served_by = await f.webhook(new_call_sid(), caller=number)
            assert '<Reject reason="busy" />' in twiml, twiml
            turned_away.add(served_by)
        assert len(turned_away) == PROCESSES
        twiml, _ = await f.webhook(new_call_sid(), caller="+15550100008")  # another caller is welcome
        assert "<Connect>" in twiml
        await heard_greeting(first)
        first.hang_up()
        report = await asyncio.wait_for(running, 30)
        assert not report.bot_closed_first and report.violations == []
        await f.wait_fleet(0)
        twiml, _ = await f.webhook(new_call_sid(), caller=number)  # and this one again, now
        assert "<Connect>" in twiml
    logs = "".join(read(b) for b in f.bots)
    assert logs.count("(MAX_CALLS_PER_CALLER)") == PROCESSES + 1 and number not in logs


async def test_redis_killed_mid_call_cuts_no_call_and_new_calls_are_served_on_the_local_cap(
    tmp_path: Path,
) -> None:
    question = load_clip("caller_question")
    # greeting, a pause during which Redis dies, then a question that must still be answered
    talk = [WaitForBotAudio(after_s=0.2), WaitForBotSilence(), Silence(2), Speech(question)]
    talk += [WaitForBotAudio(after_s=0.2, timeout_s=15), WaitForBotSilence(), Silence(120)]
    async with fleet(tmp_path, REDIS_LEASE_SECS="3") as f:
        placed = [await place(f, talk) for _ in range(GLOBAL_CAP)]
        await f.wait_fleet(GLOBAL_CAP)  # the fleet is full ...
        f.redis.kill()
        killed = time.monotonic()
        ready = await f.readyz()  # ... each process finds Redis gone, says so, and serves on its own cap
        assert all(status == 200 and body["limits"] == "local_fallback" for status, body in ready), ready
        assert [body["max_calls"] for _, body in ready] == [2, 2, 2]
        assert [(await b.metrics())[f"{NS}shared_limits_fallback"] for b in f.bots] == [1, 1, 1]
        extra, _ = await place(f, [WaitForBotAudio(after_s=0.2), WaitForBotSilence()])
        extra_report = await asyncio.wait_for(extra, 60)  # N+1 is served: the global cap is not in force
        greeting = len(load_clip("bot_greeting")) - 160
        assert extra_report.violations == [] and len(extra_report.heard) >= greeting
        async with asyncio.timeout(60):  # the calls in progress go on: their question gets answered
            while any(len(caller.report.reply_latencies_s) < 1 for _, caller in placed):
                assert not any(task.done() for task, _ in placed)
                await asyncio.sleep(0.2)
        for bot in f.bots:
            warnings = [line for line in read(bot).splitlines() if "Redis is unreachable" in line]
            assert len(warnings) == 1 and "WARNING" in warnings[0], warnings  # once, however many calls

        f.redis.start()  # back, empty: the processes re-register the calls they hold
        async with asyncio.timeout(30):
            while any(body.get("limits") != "shared" for _, body in await f.readyz()):
                await asyncio.sleep(0.2)
        await f.wait_fleet(GLOBAL_CAP)
        for task, caller in placed:
            caller.hang_up()
            report = await asyncio.wait_for(task, 30)
            assert report.violations == [] and not report.bot_closed_first  # nothing cut it
        await f.wait_fleet(0)
    logs = [read(b) for b in f.bots]
    assert all(log.count("Redis answers again") == 1 for log in logs)
    assert not any("Traceback" in log for log in logs)
    print(f"\nFLEET: Redis down for {time.monotonic() - killed:.1f} s, {GLOBAL_CAP} calls rode through it")


def test_the_documented_haproxy_config_is_the_one_the_tests_run() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    assert haproxy_config(8080, [8765, 8766, 8767]) in docs
