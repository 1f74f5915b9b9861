"""The example app attacked as a stranger would, over real HTTP and websockets (issue 11).

A fake Twilio REST server on 127.0.0.1 records every call update the app makes; the Realtime stand-in
records every OpenAI session opened. Each attack must open no session and cause no REST request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from pipecat_twilio_realtime import BINDING_PARAMETER
from pipecat_twilio_realtime.example import create_app, load_settings
from pipecat_twilio_realtime.example.settings import BotSettings, ConfigError
from pipecat_twilio_realtime.testing import RealtimeStandIn

from .. import _twilio_helpers as tw
from .._twilio_helpers import fake_twilio_rest, sdk_client, serve

TOKEN = "test-token-not-a-secret"  # the one sdk_client() authenticates with
HOST = "bot.example"
VICTIM = "CA" + "ab" * 16
ATTACKER = "CA" + "cd" * 16
ROUTES = {"/twiml", "/ws"}


def sign(url: str, params: dict[str, str] | None = None) -> str:
    return RequestValidator(TOKEN).compute_signature(url, params or {})


def settings(realtime_url: str, **changes: Any) -> BotSettings:
    base = load_settings(
        {
            "OPENAI_API_KEY": "sk-test-key-should-never-be-logged",
            "OPENAI_REALTIME_URL": realtime_url,
            "TWILIO_ACCOUNT_SID": tw.ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "PUBLIC_HOST": HOST,
        }
    )
    return dataclasses.replace(base, **changes)


def start_message(call_sid: str, stream_sid: str = tw.STREAM_SID, **custom: str) -> str:
    start = json.loads(tw.start(**custom))
    start["streamSid"] = start["start"]["streamSid"] = stream_sid
    start["start"]["callSid"] = call_sid
    return json.dumps(start)


class Bot:
    """The example app on 127.0.0.1, with a recording Twilio REST server and the Realtime stand-in."""

    def __init__(self, standin: RealtimeStandIn, port: int, posts: list[dict[str, Any]]) -> None:
        self.standin, self.port, self.posts = standin, port, posts

    async def webhook(self, call_sid: str, **headers: str) -> tuple[int, str]:
        form = {"CallSid": call_sid, "AccountSid": tw.ACCOUNT_SID, "From": "+15551234567"}
        headers = {"X-Twilio-Signature": sign(f"https://{HOST}/twiml", form), **headers}
        async with (
            aiohttp.ClientSession() as client,
            client.post(f"http://127.0.0.1:{self.port}/twiml", data=form, headers=headers) as response,
        ):
            return response.status, await response.text()

    def stream(self, signature: str | None = None, *, close_timeout: float = 10.0) -> Any:
        """A signed media-stream handshake; ``close_timeout`` bounds our wait for the bot's close reply."""
        signature = sign(f"wss://{HOST}/ws") if signature is None else signature
        return connect(
            f"ws://127.0.0.1:{self.port}/ws",
            additional_headers={"X-Twilio-Signature": signature},
            close_timeout=close_timeout,
        )


@pytest.fixture
async def bot(request: pytest.FixtureRequest) -> AsyncIterator[Bot]:
    changes = getattr(request, "param", {})
    posts: list[dict[str, Any]] = []
    async with RealtimeStandIn(speed=8.0) as standin, serve(fake_twilio_rest(posts)) as rest_port:
        app = create_app(settings(standin.url, **changes), twilio_client=sdk_client(rest_port))
        async with serve(app) as port:
            yield Bot(standin, port, posts)


def binding_token(twiml: str) -> str:
    match = re.search(rf'<Parameter name="{BINDING_PARAMETER}" value="([^"]+)"', twiml)
    assert match, twiml
    return match.group(1)


async def closed_code(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(15):
            while True:
                await ws.recv()
    return ws.close_code


# ----------------------------------------------------------------------------- 1. replayed handshakes


@pytest.mark.parametrize("bot", [{"inactivity_timeout_secs": 1.0}], indirect=True)
async def test_a_replayed_handshake_cannot_start_a_session_or_hang_up_a_victim(
    bot: Bot, logs: list[str]
) -> None:
    _, twiml = await bot.webhook(ATTACKER)  # the attacker's own call, legitimately signed
    attacker_token = binding_token(twiml)
    # The handshake signature is the same for every call: replay it with a victim's CallSid in 'start',
    # without a token, with the attacker's token, and with a forged one.
    for custom in (
        {},
        {BINDING_PARAMETER: attacker_token},
        {BINDING_PARAMETER: attacker_token[:-4] + "AAAA"},
    ):
        async with bot.stream() as ws:
            await ws.send(tw.connected())
            await ws.send(start_message(VICTIM, **custom))
            assert await closed_code(ws) == 1008
    assert bot.standin.connections == []  # no OpenAI session opened
    assert bot.posts == []  # no REST request on anyone's call
    reasons = [line for line in logs if "stream binding" in line]
    assert [r.split("stream binding ")[1].split(" ")[0] for r in reasons] == [
        "missing",
        "wrong_call",
        "tampered",
    ]


@pytest.mark.parametrize("bot", [{"inactivity_timeout_secs": 1.0}], indirect=True)
async def test_a_bound_call_runs_and_only_its_own_sid_drives_rest(bot: Bot, logs: list[str]) -> None:
    status, twiml = await bot.webhook(VICTIM)
    assert status == 200
    async with bot.stream() as ws:
        await ws.send(tw.connected())
        await ws.send(start_message(VICTIM, **{BINDING_PARAMETER: binding_token(twiml)}))
        await ws.send(tw.media(2, b"\xff" * 160))
        # then nothing: the inactivity bound ends the call, and the bot hangs up through Twilio
        assert await closed_code(ws) is not None
    assert len(bot.standin.connections) == 1
    for _ in range(100):
        if bot.posts:
            break
        await asyncio.sleep(0.05)
    assert [(p["call"], p["form"]) for p in bot.posts] == [(VICTIM, {"Status": "completed"})]
    assert any("no media from Twilio for" in line for line in logs)
    joined = "\n".join(logs)
    for secret in (
        TOKEN,
        "sk-test-key-should-never-be-logged",
        sign(f"wss://{HOST}/ws"),
        binding_token(twiml),
    ):
        assert secret not in joined


async def test_an_unsigned_or_misdirected_handshake_is_refused_before_accept(bot: Bot) -> None:
    for signature in ("", sign(f"https://{HOST}/ws"), sign(f"wss://{HOST}/elsewhere")):
        with pytest.raises(InvalidStatus) as refused:
            async with bot.stream(signature):
                pass
        assert refused.value.response.status_code == 403
    assert bot.standin.connections == []


# ----------------------------------------------------------------------------- 2-3. headers and bodies


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-Proto": "HTTPS"},
        {"X-Forwarded-Proto": "https://attacker.example/x#"},
        {"X-Forwarded-Host": "attacker.example"},
        {"X-Forwarded-Proto": "https://h:abc"},
        {"Host": "h:abc"},
    ],
)
async def test_forwarded_headers_never_change_what_is_checked(
    bot: Bot, headers: dict[str, str], logs: list[str]
) -> None:
    # a signature made for the attacker's choice of URL never passes; Twilio's own still does
    form = {"CallSid": VICTIM, "AccountSid": tw.ACCOUNT_SID}
    forged = sign("https://attacker.example/x#/twiml", form)
    status, _ = await bot.webhook(VICTIM, **headers, **{"X-Twilio-Signature": forged})
    assert status in (400, 403)
    status, _ = await bot.webhook(VICTIM, **headers)
    assert status == 200
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            f"ws://127.0.0.1:{bot.port}/ws",
            additional_headers={**headers, "X-Twilio-Signature": sign(f"https://{HOST}/ws")},
        ):
            pass
    assert refused.value.response.status_code in (400, 403)
    assert not any("Traceback" in line or "| ERROR" in line for line in logs)


async def test_a_malformed_query_is_a_4xx_not_a_500(bot: Bot) -> None:
    async with aiohttp.ClientSession() as client:
        for query in ("?xbodySHA256=1", "?bodySHA256=00&bodySHA256=11", "?bodySHA256=%ff"):
            async with client.post(f"http://127.0.0.1:{bot.port}/twiml{query}", data={"a": "b"}) as response:
                assert 400 <= response.status < 500, query


async def test_an_oversized_body_is_refused_before_it_is_read(bot: Bot) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", bot.port)
    writer.write(
        b"POST /twiml?bodySHA256=00 HTTP/1.1\r\nHost: bot.example\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 300000000\r\n\r\n" + b"a" * 65536
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.split()[1] == b"413"


# ----------------------------------------------------------------------------- 4. a bounded cost


@pytest.mark.parametrize("bot", [{"max_calls": 2, "inactivity_timeout_secs": 1.0}], indirect=True)
async def test_silent_streams_open_at_most_the_cap_and_are_closed_by_inactivity(bot: Bot) -> None:
    opened: list[ClientConnection] = []
    refused = 0
    for n in range(6):
        call = f"CA{n:032x}"
        _, twiml = await bot.webhook(call)
        if "<Reject" in twiml:  # busy: the webhook mints nothing
            refused += 1
            continue
        try:
            ws = await bot.stream().__aenter__()
        except InvalidStatus:
            refused += 1
            continue
        await ws.send(
            start_message(call, stream_sid=f"MZ{n:032x}", **{BINDING_PARAMETER: binding_token(twiml)})
        )
        opened.append(ws)  # then silence
    assert len(opened) == 2 and refused == 4
    codes = [await closed_code(ws) for ws in opened]
    assert all(code is not None for code in codes)
    assert len(bot.standin.connections) == 2  # never more OpenAI sessions than the cap
    _, twiml = await bot.webhook(VICTIM)  # the slots are free again
    assert "<Reject" not in twiml and BINDING_PARAMETER in twiml


async def test_a_flood_of_media_is_cut_to_twice_real_time(bot: Bot) -> None:
    _, twiml = await bot.webhook(VICTIM)
    # what is measured is appended before we hang up: our close need not wait 10 s for the bot's reply
    async with bot.stream(close_timeout=1.0) as ws:
        await ws.send(start_message(VICTIM, **{BINDING_PARAMETER: binding_token(twiml)}))
        await bot.standin.wait_for("session.update", timeout=10)
        for seq in range(2, 2002):  # 40 s of audio as fast as the socket takes it
            await ws.send(tw.media(seq, b"\xff" * 160, chunk=seq))
        appended = await _appended_bytes(bot.standin, settle_s=1.0)
    # 2x real time plus the 2 s burst, over the few seconds the flood lasted: far below 40 s of audio
    assert 0 < appended < 40 * 8000 // 2


async def _appended_bytes(standin: RealtimeStandIn, settle_s: float) -> int:
    await asyncio.sleep(settle_s)  # let the pipeline drain what it accepted
    import base64

    return sum(
        len(base64.b64decode(e["audio"]))
        for e in standin.received
        if e["type"] == "input_audio_buffer.append"
    )


# ----------------------------------------------------------------------------- 5-6. logs and early failures


@pytest.mark.parametrize("bot", [{"start_timeout_secs": 1.0}], indirect=True)
async def test_sids_with_control_characters_are_refused_and_cannot_forge_log_lines(
    bot: Bot, logs: list[str]
) -> None:
    forged = "CA" + "0" * 32 + "\n2026-11-27 00:00:00 | ERROR | forged"
    async with bot.stream() as ws:
        await ws.send(start_message(forged))
        await ws.send(start_message(VICTIM, stream_sid="MZ\n| ERROR | x" + "0" * 20))
        assert await closed_code(ws) in (1008, 1000)  # no valid 'start' within start_timeout_secs
    assert bot.standin.connections == []
    assert not any(
        line.startswith("2026-11-27 00:00:00") or "| ERROR | forged" in line.split("\n")[0] for line in logs
    )
    assert all("\n" not in line.rstrip("\n") for line in logs)


@pytest.mark.parametrize("bot", [{"start_timeout_secs": 1.0}], indirect=True)
async def test_a_binary_frame_or_an_early_disconnect_is_one_warning(bot: Bot, logs: list[str]) -> None:
    async with bot.stream() as ws:
        await ws.send(b"\x00\x01binary")
        await closed_code(ws)
    async with bot.stream() as ws:
        await ws.send(tw.connected())
    await asyncio.sleep(0.3)
    warnings = [line for line in logs if "WARNING" in line]
    assert any("binary frame before 'start'" in line for line in warnings)
    assert any("disconnected before 'start'" in line for line in warnings)
    assert not any("Traceback" in line or "ERROR" in line for line in logs)


def test_the_default_bounds() -> None:
    """The defaults the call tests above shorten through their settings."""
    chosen = settings("ws://127.0.0.1:9/v1/realtime")
    assert chosen.start_timeout_secs == 10.0 and chosen.inactivity_timeout_secs == 10.0


def test_unsigned_mode_must_be_asked_for_and_is_loud(logs: list[str]) -> None:
    with pytest.raises(ConfigError, match="ALLOW_UNSIGNED=1"):
        load_settings({"OPENAI_API_KEY": "sk-x"})
    create_app(load_settings({"OPENAI_API_KEY": "sk-x", "ALLOW_UNSIGNED": "1"}))
    assert any("UNSIGNED MODE" in line and "WARNING" in line for line in logs)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"TWILIO_ACCOUNT_SID": tw.ACCOUNT_SID, "TWILIO_AUTH_TOKEN": "short"},
            "TWILIO_AUTH_TOKEN is too short",
        ),
        ({"MAX_CALLS": "0"}, "MAX_CALLS='0' must be at least 1"),
        ({"MAX_CALLS": "2.5"}, "not a whole number"),
        ({"INACTIVITY_TIMEOUT_SECS": "soon"}, "not a number"),
    ],
)
def test_bounds_are_validated(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings({"OPENAI_API_KEY": "sk-x", "ALLOW_UNSIGNED": "1", **env})


async def test_unsigned_mode_parses_the_webhook_with_the_signature_checks_parser() -> None:
    app = create_app(load_settings({"OPENAI_API_KEY": "sk-x", "ALLOW_UNSIGNED": "1", "PUBLIC_HOST": HOST}))
    async with serve(app) as port, aiohttp.ClientSession() as client:
        url = f"http://127.0.0.1:{port}/twiml"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        async with client.post(url, data=b"From=%2B1555&CallSid=" + VICTIM.encode(), headers=headers) as ok:
            assert ok.status == 200 and "+1555" in await ok.text()
        async with client.post(url, data=b"From=\xff\xfe", headers=headers) as bad:
            assert bad.status == 400 and "not a UTF-8 form" in await bad.text()
