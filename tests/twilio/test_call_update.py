"""Updating a live Twilio call through the REST API: transfer TwiML, hang-up, failures (fast, loopback)."""

from __future__ import annotations

from typing import Any

from pipecat.frames.frames import EndFrame

from pipecat_twilio_realtime import TwilioMediaStreamSerializer
from pipecat_twilio_realtime.twilio.serializer import TwilioCallUpdate

from .. import _twilio_helpers as tw
from .._twilio_helpers import fake_twilio_rest, sdk_client, serve


def test_transfer_is_dial_twiml_with_the_number_escaped() -> None:
    assert TwilioCallUpdate.transfer("+15551234567").twiml == "<Response><Dial>+15551234567</Dial></Response>"
    assert TwilioCallUpdate.transfer("<x&y>").twiml == "<Response><Dial>&lt;x&amp;y&gt;</Dial></Response>"


async def test_update_call_without_credentials_sends_nothing(logs: list[str]) -> None:
    serializer = TwilioMediaStreamSerializer()
    assert await serializer.update_call("<Response/>") is False
    assert any("cannot update the Twilio call" in line for line in logs)


async def test_update_call_posts_the_twiml_once_and_the_end_then_does_not_hang_up() -> None:
    posts: list[dict[str, Any]] = []
    async with serve(fake_twilio_rest(posts)) as port:
        serializer = TwilioMediaStreamSerializer(
            call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, twilio_client=sdk_client(port)
        )
        assert await serializer.update_call("<Response><Say>bye</Say></Response>") is True
        await serializer.serialize(EndFrame())  # the call already has its TwiML: no hang-up on top
    assert [(p["call"], p["form"]) for p in posts] == [
        (tw.CALL_SID, {"Twiml": "<Response><Say>bye</Say></Response>"})
    ]


async def test_an_end_carrying_a_call_update_transfers_instead_of_hanging_up(logs: list[str]) -> None:
    posts: list[dict[str, Any]] = []
    async with serve(fake_twilio_rest(posts)) as port:
        serializer = TwilioMediaStreamSerializer(
            call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, twilio_client=sdk_client(port)
        )
        await serializer.serialize(EndFrame(reason=TwilioCallUpdate.transfer("+15550001111")))
    assert [p["form"] for p in posts] == [{"Twiml": "<Response><Dial>+15550001111</Dial></Response>"}]
    assert any("updated Twilio call" in line for line in logs)


async def test_a_failed_update_is_false_and_named(logs: list[str]) -> None:
    posts: list[dict[str, Any]] = []
    async with serve(fake_twilio_rest(posts, status=404)) as port:
        serializer = TwilioMediaStreamSerializer(
            call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, twilio_client=sdk_client(port)
        )
        assert await serializer.update_call("<Response/>") is False
    assert len(posts) == 1
