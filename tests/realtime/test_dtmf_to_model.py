"""Keypad digits reach the model (``dtmf_to_model``): a real call, bot ↔ stand-in ↔ simulated caller.

The caller presses a key with the script's ``Dtmf`` step; Twilio's ``dtmf`` message becomes an
``InputDTMFFrame`` in the serializer; with the option on the service puts ``"The caller pressed N."`` in
the conversation and asks for a response, with it off nothing reaches the model.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from pipecat.processors.aggregators.llm_context import LLMContext
from websockets.protocol import State

from pipecat_twilio_realtime import OpenAIRealtimeMuLawLLMService
from pipecat_twilio_realtime.realtime.dtmf import DTMF_MESSAGE
from pipecat_twilio_realtime.testing import (
    Dtmf,
    RealtimeStandIn,
    Silence,
    SimulatedTwilioCaller,
    WaitForBotAudio,
)
from pipecat_twilio_realtime.testing.realtime import REAL_TIME, SteadyPacing
from pipecat_twilio_realtime.testing.twilio.script import Segment

from .._bot_helpers import BotCall, bot_app
from .._twilio_helpers import serve
from ._helpers import FAST, QUIET


async def _call(
    standin: RealtimeStandIn,
    script: list[Segment],
    *,
    until: Callable[[], Awaitable[Any]] | None = None,
    **service_kwargs: Any,
) -> tuple[BotCall, list[dict[str, Any]]]:
    """One call at ``FAST``: what is asserted is events and their order, not wall-clock pacing.

    With ``until`` the caller hangs up as soon as it has returned (the script is only the upper bound).
    """
    calls: list[BotCall] = []
    async with serve(bot_app(standin.url, calls, service_kwargs=service_kwargs, speed=FAST)) as port:
        caller = SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script, speed=FAST)
        task = asyncio.create_task(caller.run())
        waiter = asyncio.ensure_future(until()) if until is not None else None
        if waiter is not None:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            caller.hang_up()
        report = await asyncio.wait_for(task, 60)
        if waiter is not None and waiter.done():
            waiter.result()  # a wait that timed out says what the stand-in had recorded
        elif waiter is not None:
            waiter.cancel()
    assert report.violations == []
    return calls[0], standin.received


def _pressed_items(received: list[dict[str, Any]]) -> list[str]:
    return [
        part["text"]
        for e in received
        if e["type"] == "conversation.item.create" and e["item"].get("role") == "user"
        for part in e["item"].get("content") or []
        if part.get("type") == "input_text"
    ]


AFTER_THE_GREETING: list[Segment] = [
    WaitForBotAudio(after_s=0.2),
    QUIET,
    Dtmf("0"),
    WaitForBotAudio(after_s=0.2, timeout_s=5 * FAST),
    QUIET,
]


async def test_a_pressed_digit_reaches_the_model_as_a_user_item_and_gets_an_answer() -> None:
    async with RealtimeStandIn(speed=8.0 * FAST) as standin:
        call, received = await _call(standin, AFTER_THE_GREETING, dtmf_to_model=True)
    assert _pressed_items(received) == [DTMF_MESSAGE.format(digit="0")] == ["The caller pressed 0."]
    types = [e["type"] for e in received]
    item_at = next(
        i for i, e in enumerate(received) if e["type"] == "conversation.item.create" and "item" in e
    )
    assert "response.create" in types[item_at:]  # then asked for an answer
    assert len(standin.reported_usage) == 2 and standin.errors == []  # greeting, then the answer
    messages = call.service._context.get_messages() if call.service._context else []  # kept for a reconnect
    assert {"role": "user", "content": "The caller pressed 0."} in messages


async def test_with_the_option_off_the_digit_does_not_reach_the_model() -> None:
    # 1.5 real seconds for the digit to reach the model, had it gone there
    script: list[Segment] = [WaitForBotAudio(after_s=0.2), QUIET, Dtmf("0"), Silence(1.5 * FAST)]
    async with RealtimeStandIn(speed=8.0 * FAST) as standin:
        call, received = await _call(standin, script)
    assert call.serializer.stats.dtmf_received == 1  # it reached the bot as an InputDTMFFrame
    assert _pressed_items(received) == []
    assert [e["type"] for e in received].count("response.create") == 1  # the greeting only


async def test_a_digit_during_a_reply_waits_for_its_end_instead_of_cutting_it_off() -> None:
    script: list[Segment] = [
        WaitForBotAudio(after_s=0.3),
        Dtmf("5"),
        Silence(15.0 * FAST),  # the upper bound: the caller hangs up once the answer is done
    ]
    # the greeting is still being produced: at the call's real time (no lead), as REAL_TIME is at 1x
    async with RealtimeStandIn(pacing=SteadyPacing(REAL_TIME.speed * FAST)) as standin:

        async def answered() -> None:
            await standin.wait_for("response.done", count=2, timeout=15.0)

        _call_parts, received = await _call(standin, script, until=answered, dtmf_to_model=True)
    assert _pressed_items(received) == ["The caller pressed 5."]
    order = [
        e["type"]
        for e in standin._ordered
        if e["type"] in ("response.create", "response.done", "conversation.item.create", "response.cancel")
    ]
    # the item goes in at once, mid-reply; the answer is asked for only after that reply is done
    assert order == [
        "response.create",
        "conversation.item.create",
        "response.done",
        "response.create",
        "response.done",
    ]
    assert standin.errors == []
    assert [e["response"]["status"] for e in standin.sent if e["type"] == "response.done"] == [
        "completed",
        "completed",
    ]


class _Recorder:
    """The OpenAI websocket as the service writes to it (open, recording each event)."""

    state = State.OPEN

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))


async def test_before_any_context_the_digit_is_dropped_with_a_warning(logs: list[str]) -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test", dtmf_to_model=True)
    socket = _Recorder()
    service._websocket = socket  # type: ignore[assignment]
    await service._digit_to_model("7")
    assert socket.sent == []
    assert any("caller pressed 7 before the conversation started" in line for line in logs)


async def test_before_the_conversation_setup_the_digit_joins_the_context_the_setup_sends() -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test", dtmf_to_model=True)
    socket = _Recorder()
    service._websocket = socket  # type: ignore[assignment]
    service._context = LLMContext()
    await service._digit_to_model("#")  # the session is not ready yet
    assert socket.sent == []  # not sent twice: the conversation setup will send the context
    assert service._context.get_messages() == [{"role": "user", "content": "The caller pressed #."}]
    assert service._run_llm_when_api_session_ready  # and a response is owed once the session is ready
