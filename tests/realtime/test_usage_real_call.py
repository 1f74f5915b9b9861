"""Tokens and cost of a real call: the stand-in's ``response.done`` usage reaches the summary and WS_STOP.

Bot (real uvicorn, transport, serializer, service, observer) ↔ stand-in ↔ simulated caller: a greeting and
one answered question. The service must sum exactly what the stand-in reported (recorded on its side), and
the ``WS_STOP`` line, the call summary and ``/metrics`` must carry the same numbers and a cost from the
price table.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from openai.types.realtime import RealtimeResponseUsage

from pipecat_twilio_realtime import (
    MediaStatsObserver,
    OpenAIRealtimeMuLawLLMService,
    TwilioMediaStreamSerializer,
)
from pipecat_twilio_realtime.observe.metrics import CallMetrics
from pipecat_twilio_realtime.realtime.pricing import DEFAULT_PRICES, estimate_cost
from pipecat_twilio_realtime.realtime.usage import TokenUsage
from pipecat_twilio_realtime.testing import (
    RealtimeStandIn,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    load_clip,
)
from pipecat_twilio_realtime.testing.realtime.usage import item_text, response_usage, text_tokens

from .._bot_helpers import BotCall, bot_app
from .._twilio_helpers import serve
from ._helpers import FAST, QUIET

INSTRUCTIONS = "You answer the phone for a bakery. Keep it short."
MODEL = "gpt-realtime-2.1"


async def _call() -> tuple[RealtimeStandIn, BotCall, list[dict[str, Any]]]:
    summaries: list[dict[str, Any]] = []

    def observers(serializer: TwilioMediaStreamSerializer, service: Any) -> list[Any]:
        observer = MediaStatsObserver(serializer=serializer, service=service)

        @observer.event_handler("on_call_summary")
        async def on_call_summary(_observer: Any, summary: dict[str, Any]) -> None:
            summaries.append(summary)

        return [observer]

    settings = OpenAIRealtimeMuLawLLMService.Settings(model=MODEL, system_instruction=INSTRUCTIONS)
    calls: list[BotCall] = []
    async with (
        RealtimeStandIn(speed=8.0 * FAST) as standin,
        serve(
            bot_app(
                standin.url, calls, observers=observers, service_kwargs={"settings": settings}, speed=FAST
            )
        ) as port,
    ):
        # usage is counted in bytes and events, not wall-clock pacing: the call runs at FAST (see there)
        script = [
            WaitForBotAudio(after_s=0.2),
            QUIET,
            Speech(load_clip("caller_question")),
            WaitForBotAudio(after_s=0.2, timeout_s=10 * FAST),
            QUIET,
        ]
        caller = SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script, speed=FAST)
        await asyncio.wait_for(caller.run(), 60)
        async with asyncio.timeout(10):  # the bot writes its summary as its pipeline ends
            while not summaries:
                await asyncio.sleep(0.05)
    return standin, calls[0], summaries


async def test_summed_usage_equals_what_the_standin_reported_in_every_place(logs: list[str]) -> None:
    standin, call, summaries = await _call()
    reported = standin.reported_usage
    assert len(reported) == 2  # the greeting and the answer
    expected = TokenUsage()
    for usage in reported:
        expected.add(RealtimeResponseUsage.model_validate(usage))
    # the stand-in's numbers are the modelled ones, not zeros: audio both ways, instructions cached once
    assert expected.input_audio > 0 and expected.output_audio > 0 and expected.cached_text > 0
    assert call.service.stats.usage == expected
    cost = estimate_cost(expected, DEFAULT_PRICES[MODEL])
    assert call.service.stats.cost_usd == pytest.approx(cost) and cost > 0

    summary = summaries[0]
    assert summary["tokens"] == {"input": expected.input_tokens, "output": expected.output_tokens}
    assert summary["cost_usd"] == pytest.approx(cost)
    assert summary["realtime"]["usage"] == expected.as_dict()
    stop = [line for line in logs if "WS_STOP" in line]
    assert len(stop) == 1
    assert f"tokens={expected.input_tokens}/{expected.output_tokens} cost=${cost:.4f}" in stop[0]

    metrics = CallMetrics()
    metrics.record_summary(summary)
    body = metrics.render()[0].decode()
    kinds = expected.by_kind()
    for kind in ("input_audio", "input_text", "cached_text", "output_audio", "output_text"):
        line = f'pipecat_twilio_realtime_tokens_total{{kind="{kind}"}} {float(kinds[kind])}'
        assert line in body, kind
    found = re.search(r"^pipecat_twilio_realtime_cost_usd_total (\S+)$", body, re.MULTILINE)
    assert found is not None and float(found.group(1)) == pytest.approx(cost)
    _check_the_documented_rule(standin)


def _check_the_documented_rule(standin: RealtimeStandIn) -> None:
    """1 input audio token per 100 ms committed, 1 output audio token per 50 ms produced, text by length."""
    done = [e["response"] for e in standin.sent if e["type"] == "response.done"]
    audio_in = sum(r["usage"]["input_token_details"]["audio_tokens"] for r in done)
    audio_out = sum(r["usage"]["output_token_details"]["audio_tokens"] for r in done)
    assert abs(audio_out - len(standin.reply_audio) / 8 / 50) <= len(done)  # rounded per response
    question_ms = len(load_clip("caller_question")) / 8
    assert question_ms / 100 <= audio_in <= len(standin.appended_audio) / 8 / 100 + 1
    for response in done:
        usage = response["usage"]
        assert (
            usage["output_token_details"]["text_tokens"] == text_tokens(item_text(response["output"][0])) > 0
        )
        assert usage["input_token_details"]["text_tokens"] >= text_tokens(INSTRUCTIONS)
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_usage_has_every_ga_field_and_detail_object() -> None:
    usage = response_usage(
        input_audio_ms=2000,
        input_text_tokens=30,
        cached_text_tokens=10,
        output_audio_ms=1000,
        output_text_tokens=5,
    )
    assert usage == {
        "total_tokens": 20 + 30 + 20 + 5,
        "input_tokens": 50,
        "output_tokens": 25,
        "input_token_details": {
            "text_tokens": 30,
            "audio_tokens": 20,
            "image_tokens": 0,
            "cached_tokens": 10,
            "cached_tokens_details": {"text_tokens": 10, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": 5, "audio_tokens": 20},
    }
    assert RealtimeResponseUsage.model_validate(usage).model_extra == {}
