"""Twilio signature checks: the validator, and the example bot refusing unsigned webhooks and streams."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from pipecat_twilio_realtime import TwilioSignatureValidator
from pipecat_twilio_realtime.testing import RealtimeStandIn, SimulatedTwilioCaller, WaitForBotAudio

from ._twilio_helpers import serve

TOKEN = "tok-0123456789abcdef-secret"
HOST = "bot.example"
BOT_PATH = Path(__file__).resolve().parent.parent / "examples" / "twilio_bot" / "bot.py"


@pytest.fixture(scope="module")
def bot() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_bot_security", BOT_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def sign(url: str, params: dict[str, str] | None = None) -> str:
    return RequestValidator(TOKEN).compute_signature(url, params or {})


def test_validator_accepts_twilio_signatures_and_names_failures() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    params = {"CallSid": "CA1", "From": "+15551234567"}
    url = f"https://{HOST}/twiml"
    assert validator.check(url, params, {"x-twilio-signature": sign(url, params)}).ok
    tampered = validator.check(url, {**params, "From": "+1999"}, {"x-twilio-signature": sign(url, params)})
    assert not tampered.ok and "signature mismatch for 'https://bot.example/twiml'" in tampered.reason
    assert validator.check(url, params, {}).reason == "missing X-Twilio-Signature header"
    sha256 = RequestValidator(TOKEN).compute_signature(url, params, "HMAC_SHA256")
    settings = {
        "x-twilio-signature": sha256,
        "x-twilio-webhooks-signature-settings": "key=k1,algorithm=HMAC_SHA256",
    }
    assert validator.check(url, params, settings).ok
    assert TOKEN not in repr(validator)
    with pytest.raises(ValueError, match="auth_token"):
        TwilioSignatureValidator("")


def test_public_url_behind_a_proxy() -> None:
    trusting = TwilioSignatureValidator(TOKEN, trust_forwarded_headers=True)
    headers = {"host": "10.0.0.5:8765", "x-forwarded-proto": "https", "x-forwarded-host": "bot.example"}
    assert trusting.public_url("ws", headers, "/ws") == "wss://bot.example/ws"
    assert trusting.public_url("http", headers, "/twiml", "a=1") == "https://bot.example/twiml?a=1"
    wary = TwilioSignatureValidator(TOKEN)  # the default: forwarded headers are client input
    assert wary.public_url("ws", headers, "/ws") == "wss://10.0.0.5:8765/ws"
    pinned = TwilioSignatureValidator(TOKEN, public_host="https://pinned.example/")
    assert pinned.public_url("ws", headers, "/ws") == "wss://pinned.example/ws"


def signed_settings(bot: ModuleType, realtime_url: str = "ws://127.0.0.1:9/v1/realtime") -> Any:
    return bot.load_settings(
        {
            "OPENAI_API_KEY": "sk-test-key-should-never-be-logged",
            "OPENAI_REALTIME_URL": realtime_url,
            "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000001",
            "TWILIO_AUTH_TOKEN": TOKEN,
            "PUBLIC_HOST": HOST,
        }
    )


async def test_example_refuses_unsigned_webhooks(bot: ModuleType, logs: list[str]) -> None:
    form = {"From": "+15551234567", "CallSid": "CA1"}
    async with serve(bot.create_app(signed_settings(bot))) as port, aiohttp.ClientSession() as client:
        url = f"http://127.0.0.1:{port}/twiml"
        good = {"X-Twilio-Signature": sign(f"https://{HOST}/twiml", form)}
        async with client.post(url, data=form, headers=good) as response:
            assert response.status == 200
        async with client.post(url, data=form, headers={"X-Twilio-Signature": "bm9wZQ=="}) as response:
            assert response.status == 403
        async with client.post(url, data=form) as response:
            assert response.status == 403
    assert any("refused a webhook: missing X-Twilio-Signature header" in line for line in logs)


async def test_example_refuses_unsigned_streams_before_the_pipeline(bot: ModuleType, logs: list[str]) -> None:
    async with RealtimeStandIn(speed=8.0) as standin:
        app = bot.create_app(signed_settings(bot, standin.url))
        async with serve(app) as port:
            for headers in ({}, {"X-Twilio-Signature": sign(f"wss://{HOST}/elsewhere")}):
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(f"ws://127.0.0.1:{port}/ws", additional_headers=headers):
                        pass
                assert refused.value.response.status_code == 403
            assert standin.connections == []  # no pipeline (and no OpenAI session) was started
            headers = {"X-Twilio-Signature": sign(f"wss://{HOST}/ws")}
            caller = SimulatedTwilioCaller(
                f"ws://127.0.0.1:{port}/ws", [WaitForBotAudio(after_s=0.3)], headers=headers
            )
            report = await asyncio.wait_for(caller.run(), 30)
    assert len(report.received_audio) > 0 and standin.connections
    assert any("refused a media stream" in line and "missing X-Twilio-Signature" in line for line in logs)
    joined = "\n".join(logs)
    for secret in (TOKEN, "sk-test-key-should-never-be-logged", headers["X-Twilio-Signature"]):
        assert secret not in joined
