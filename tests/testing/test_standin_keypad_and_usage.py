"""The stand-in answers a key press with a configured function call, and counts usage by its rule."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from openai.types.realtime import RealtimeResponseUsage
from websockets.asyncio.client import connect

from pipecat_twilio_realtime.testing import RealtimeStandIn
from pipecat_twilio_realtime.testing.realtime import REAL_TIME
from pipecat_twilio_realtime.testing.realtime.usage import text_tokens

PCMU = {"type": "audio/pcmu"}
INSTRUCTIONS = "Answer the phone for a bakery."


def pressed(digit: str) -> dict[str, Any]:
    text = {"type": "input_text", "text": f"The caller pressed {digit}."}
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [text]},
    }


async def _responses(standin: RealtimeStandIn, digits: str) -> list[dict[str, Any]]:
    """Press each digit (a user text item, then response.create) and return each ``response.done``."""
    async with connect(standin.url) as ws:
        update = {"type": "realtime", "instructions": INSTRUCTIONS}
        update["audio"] = {"input": {"format": PCMU, "turn_detection": None}, "output": {"format": PCMU}}
        await ws.send(json.dumps({"type": "session.update", "session": update}))
        done = []
        for digit in digits:
            await ws.send(json.dumps(pressed(digit)))
            await ws.send(json.dumps({"type": "response.create"}))
            while (event := json.loads(await ws.recv()))["type"] != "response.done":
                pass
            done.append(event["response"])
    return done


async def test_a_pressed_digit_with_a_configured_call_is_answered_with_it() -> None:
    async with RealtimeStandIn(speed=math.inf, digit_calls={"0": ("transfer_to_person", {})}) as standin:
        zero, seven = await _responses(standin, "07")
    assert [(i["type"], i.get("name"), i.get("arguments")) for i in zero["output"]] == [
        ("function_call", "transfer_to_person", "{}")
    ]
    assert seven["output"][0]["type"] == "message"  # not configured: the usual reply clip
    assert standin.errors == []


async def test_without_digit_calls_a_pressed_digit_gets_speech() -> None:
    async with RealtimeStandIn(speed=math.inf) as standin:
        (zero,) = await _responses(standin, "0")
    assert zero["output"][0]["type"] == "message"


async def test_text_items_and_instructions_are_counted_and_cached_from_the_second_response() -> None:
    async with RealtimeStandIn(speed=math.inf) as standin:
        first, second = await _responses(standin, "12")
    item_tokens = text_tokens("The caller pressed 1.")
    for response, cached in ((first, 0), (second, text_tokens(INSTRUCTIONS))):
        usage = RealtimeResponseUsage.model_validate(response["usage"])
        details = usage.input_token_details
        assert details is not None and details.cached_tokens_details is not None
        assert details.text_tokens == text_tokens(INSTRUCTIONS) + item_tokens
        assert details.cached_tokens == details.cached_tokens_details.text_tokens == cached
        assert details.audio_tokens == 0  # no caller audio committed
    assert standin.reported_usage == [first["usage"], second["usage"]]


async def test_a_cancelled_reply_reports_the_audio_it_had_sent() -> None:
    async with RealtimeStandIn(pacing=REAL_TIME) as standin, connect(standin.url) as ws:
        update = {"type": "realtime", "audio": {"input": {"format": PCMU}, "output": {"format": PCMU}}}
        await ws.send(json.dumps({"type": "session.update", "session": update}))
        await ws.send(json.dumps({"type": "response.create"}))
        sent = 0
        while sent < 3 * 800:  # 300 ms of the greeting, then cancel it
            event = json.loads(await ws.recv())
            if event["type"] == "response.output_audio.delta":
                sent += len(base64.b64decode(event["delta"]))
        await ws.send(json.dumps({"type": "response.cancel"}))
        while (event := json.loads(await ws.recv()))["type"] != "response.done":
            if event["type"] == "response.output_audio.delta":
                sent += len(base64.b64decode(event["delta"]))
    response = event["response"]
    assert response["status"] == "cancelled"
    assert response["usage"]["output_token_details"]["audio_tokens"] == round(sent / 8 / 50) >= 6
    assert standin.reported_usage == [response["usage"]]
