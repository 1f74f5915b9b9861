"""The example bot: "press 0 for a person" transfers the call (keypad → model → transfer tool → Twilio).

A signed call, as Twilio makes it: the webhook mints the binding token, the simulated caller carries it
in ``customParameters`` with the handshake's signature, so the bot may drive Twilio's REST API on this
CallSid. Twilio's REST server is imitated on 127.0.0.1 (the only part mocked) and records each update.
The caller presses 0; the stand-in (no language model) answers that text item with the call the example's
prompt asks for, ``transfer_to_person``; the bot gives the call ``<Dial>TRANSFER_TO</Dial>``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from typing import Any

import aiohttp
from twilio.request_validator import RequestValidator

from pipecat_twilio_realtime import BINDING_PARAMETER
from pipecat_twilio_realtime.example import DEFAULT_PROMPT, TOOLS, create_app, load_settings
from pipecat_twilio_realtime.testing import (
    CallerReport,
    Dtmf,
    RealtimeStandIn,
    SimulatedTwilioCaller,
    WaitForBotAudio,
    WaitForBotSilence,
)

from .. import _twilio_helpers as tw
from .._twilio_helpers import fake_twilio_rest, sdk_client, serve

TOKEN = "test-token-not-a-secret"  # the one sdk_client() authenticates with
HOST = "bot.example"
CALL = "CA" + "ab" * 16
PERSON = "+15557654321"


def sign(url: str, params: dict[str, str] | None = None) -> str:
    return RequestValidator(TOKEN).compute_signature(url, params or {})


async def signed_call(digit: str) -> tuple[CallerReport, RealtimeStandIn, list[dict[str, Any]]]:
    posts: list[dict[str, Any]] = []
    async with (
        RealtimeStandIn(speed=8.0, digit_calls={"0": ("transfer_to_person", {})}) as standin,
        serve(fake_twilio_rest(posts)) as rest_port,
    ):
        env = {
            "OPENAI_API_KEY": "sk-test-not-a-key",
            "OPENAI_REALTIME_URL": standin.url,
            "TWILIO_ACCOUNT_SID": tw.ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "PUBLIC_HOST": HOST,
            "TRANSFER_TO": PERSON,
        }
        settings = dataclasses.replace(load_settings(env), inactivity_timeout_secs=20.0)
        app = create_app(settings, twilio_client=sdk_client(rest_port))
        async with serve(app) as port:
            form = {"CallSid": CALL, "AccountSid": tw.ACCOUNT_SID, "From": "+15551234567"}
            headers = {"X-Twilio-Signature": sign(f"https://{HOST}/twiml", form)}
            async with (
                aiohttp.ClientSession() as client,
                client.post(f"http://127.0.0.1:{port}/twiml", data=form, headers=headers) as response,
            ):
                twiml = await response.text()
            token = re.search(rf'<Parameter name="{BINDING_PARAMETER}" value="([^"]+)"', twiml)
            assert token is not None, twiml
            script = [WaitForBotAudio(after_s=0.2), WaitForBotSilence(), Dtmf(digit)]
            script += [WaitForBotAudio(after_s=30, timeout_s=6)]  # a transfer ends the stream before this
            caller = SimulatedTwilioCaller(
                f"ws://127.0.0.1:{port}/ws",
                script,
                custom_parameters={BINDING_PARAMETER: token.group(1)},
                headers={"X-Twilio-Signature": sign(f"wss://{HOST}/ws")},
                call_sid=CALL,
                account_sid=tw.ACCOUNT_SID,
            )
            report = await asyncio.wait_for(caller.run(), 60)
            # The REST update runs as the pipeline ends, before the stream's handler lets go of the call:
            # once the service tracks no call, every update this call made is in ``posts``.
            async with asyncio.timeout(5):
                while app.state.service.calls:
                    await asyncio.sleep(0.02)
    return report, standin, posts


def test_the_example_offers_press_zero_and_has_the_tool() -> None:
    assert "press 0" in DEFAULT_PROMPT and "transfer_to_person" in DEFAULT_PROMPT
    assert "transfer_to_person" in [tool.name for tool in TOOLS.standard_tools]


async def test_pressing_zero_transfers_the_call_to_a_person() -> None:
    report, standin, posts = await signed_call("0")
    assert report.dtmf_sent == ["0"] and report.violations == []
    assert any(
        part.get("text") == "The caller pressed 0."
        for e in standin.received
        if e["type"] == "conversation.item.create"
        for part in e["item"].get("content") or []
    )
    calls = [e for e in standin.sent if e["type"] == "response.function_call_arguments.done"]
    assert [c["name"] for c in calls] == ["transfer_to_person"]
    assert [(p["call"], p["form"]) for p in posts] == [
        (CALL, {"Twiml": f"<Response><Dial>{PERSON}</Dial></Response>"})
    ]
    assert report.bot_closed_first  # the bot ended the stream; the caller did not hang up


async def test_another_key_does_not_transfer() -> None:
    report, standin, posts = await signed_call("5")
    assert report.dtmf_sent == ["5"]
    assert not [e for e in standin.sent if e["type"] == "response.function_call_arguments.done"]
    assert posts == [] and not report.bot_closed_first  # the caller hung up at the end of its script
