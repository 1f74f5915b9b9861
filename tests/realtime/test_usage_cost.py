"""Tokens and cost: ``response.done`` usage summed by kind, and the cost at a price table."""

from __future__ import annotations

import json

import pytest
from openai.types.realtime import RealtimeResponseUsage
from pipecat.services.openai.realtime import events
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService

from pipecat_twilio_realtime.realtime.pricing import DEFAULT_PRICES, ModelPrices, estimate_cost, prices_for
from pipecat_twilio_realtime.realtime.service import OpenAIRealtimeMuLawLLMService
from pipecat_twilio_realtime.realtime.usage import TokenUsage

USAGE = {
    "total_tokens": 180,
    "input_tokens": 120,
    "output_tokens": 60,
    "input_token_details": {
        "text_tokens": 20,
        "audio_tokens": 100,
        "cached_tokens": 40,
        "cached_tokens_details": {"text_tokens": 10, "audio_tokens": 30},
    },
    "output_token_details": {"text_tokens": 10, "audio_tokens": 50},
}


def test_usage_sums_each_kind_over_responses() -> None:
    usage = TokenUsage()
    usage.add(RealtimeResponseUsage.model_validate(USAGE))
    usage.add(RealtimeResponseUsage.model_validate(USAGE))
    assert usage.responses == 2
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (240, 120, 360)
    assert usage.by_kind() == {
        "input_text": 20,
        "input_audio": 140,
        "input_image": 0,
        "cached_text": 20,
        "cached_audio": 60,
        "cached_image": 0,
        "output_text": 20,
        "output_audio": 100,
    }


def test_cost_prices_cached_tokens_at_the_cached_price() -> None:
    usage = TokenUsage()
    usage.add(RealtimeResponseUsage.model_validate(USAGE))
    prices = ModelPrices(1, 2, 3, 4, 5, 6)
    expected = (10 * 1 + 10 * 2 + 10 * 3 + 70 * 4 + 30 * 5 + 50 * 6) / 1e6
    assert estimate_cost(usage, prices) == pytest.approx(expected)


def test_prices_for_finds_a_dated_snapshot_and_nothing_for_an_unknown_model() -> None:
    assert prices_for("gpt-realtime-2025-08-28") is DEFAULT_PRICES["gpt-realtime"]
    assert prices_for("gpt-realtime-mini-2025-10-06") is DEFAULT_PRICES["gpt-realtime-mini"]
    assert prices_for("some-other-model") is None
    assert prices_for(None) is None


async def test_service_sums_response_done_usage_and_estimates_cost() -> None:
    table = {"gpt-realtime-2.1": ModelPrices(1, 2, 3, 4, 5, 6)}
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test", prices=table)
    service._count_usage(events.Usage.model_validate(USAGE))
    service._count_usage(events.Usage.model_validate(USAGE))
    stats = service.stats
    assert stats.usage.output_audio == 100 and stats.usage.responses == 2
    assert stats.model == "gpt-realtime-2.1"
    assert stats.cost_usd == pytest.approx(2 * (10 + 20 + 30 + 280 + 150 + 300) / 1e6)
    assert stats.as_dict()["usage"]["total_tokens"] == 360


async def test_every_response_done_reaches_the_stock_handler_and_only_usage_is_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[object] = []

    async def stock(_self: object, evt: object) -> None:
        seen.append(evt)

    monkeypatch.setattr(OpenAIRealtimeLLMService, "_handle_evt_response_done", stock)
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test")
    with_usage = events.parse_server_event(json.dumps(_done(USAGE)))
    without = events.parse_server_event(json.dumps(_done(None)))
    await service._handle_evt_response_done(with_usage)
    await service._handle_evt_response_done(without)
    assert seen == [with_usage, without]
    assert service.stats.usage.responses == 1 and service.stats.usage.input_tokens == 120
    assert service.stats.cost_usd is not None and service.stats.cost_usd > 0  # the default table's model


def test_a_model_missing_from_the_price_table_has_tokens_but_no_cost() -> None:
    service = OpenAIRealtimeMuLawLLMService(
        api_key="sk-test", prices={"another-model": ModelPrices(1, 1, 1, 1, 1, 1)}
    )
    service._count_usage(events.Usage.model_validate(USAGE))
    assert service.stats.usage.total_tokens == 180 and service.stats.cost_usd is None


def _done(usage: dict[str, object] | None) -> dict[str, object]:
    response: dict[str, object] = {
        "id": "resp_1",
        "object": "realtime.response",
        "status": "completed",
        "output": [],
    }
    if usage is not None:
        response["usage"] = usage
    return {"type": "response.done", "event_id": "evt_9", "response": response}
