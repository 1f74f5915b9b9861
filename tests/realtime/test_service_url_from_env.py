"""The Realtime URL from ``OPENAI_REALTIME_URL``: an unmodified bot talks to a stand-in; unset, OpenAI's."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI, WebSocket
from pipecat.frames.frames import LLMRunFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair

from pipecat_twilio_realtime import OpenAIRealtimeMuLawLLMService, TwilioMediaStreamSerializer
from pipecat_twilio_realtime.realtime.service import DEFAULT_REALTIME_URL, REALTIME_URL_ENV
from pipecat_twilio_realtime.testing import RealtimeStandIn, SimulatedTwilioCaller, WaitForBotAudio

from .._twilio_helpers import run_call_pipeline, serve


def bot_without_a_url(services: list[OpenAIRealtimeMuLawLLMService]) -> FastAPI:
    """A bot that never names a Realtime URL, as a user's bot would not."""
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        service = OpenAIRealtimeMuLawLLMService(api_key="sk-test-not-a-key")
        services.append(service)
        aggregators = LLMContextAggregatorPair(LLMContext())
        await run_call_pipeline(
            websocket,
            TwilioMediaStreamSerializer(),
            [aggregators.user(), service],
            after_output=[aggregators.assistant()],
            on_connected=[LLMRunFrame()],
        )

    return app


async def test_the_env_var_points_an_unmodified_bot_at_the_standin(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    services: list[OpenAIRealtimeMuLawLLMService] = []
    async with RealtimeStandIn(speed=8.0) as standin:
        monkeypatch.setenv(REALTIME_URL_ENV, standin.url)
        async with serve(bot_without_a_url(services)) as port:
            caller = SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", [WaitForBotAudio(after_s=0.2)])
            report = await asyncio.wait_for(caller.run(), 30)
    assert len(standin.connections) == 1  # the bot's session reached the stand-in, not OpenAI
    assert any(e["type"] == "session.update" for e in standin.received)
    assert len(report.received_audio) > 0 and report.violations == []
    assert services[0].base_url.startswith(standin.url + "?")  # Pipecat adds ?model=
    assert any(REALTIME_URL_ENV in line for line in logs)


def test_unset_or_empty_the_default_stays_openais(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REALTIME_URL_ENV, raising=False)
    assert OpenAIRealtimeMuLawLLMService(api_key="sk-test").base_url.startswith(DEFAULT_REALTIME_URL + "?")
    assert DEFAULT_REALTIME_URL == "wss://api.openai.com/v1/realtime"
    monkeypatch.setenv(REALTIME_URL_ENV, "")
    assert OpenAIRealtimeMuLawLLMService(api_key="sk-test").base_url.startswith(DEFAULT_REALTIME_URL + "?")


def test_an_explicit_url_wins_over_the_env_var(monkeypatch: pytest.MonkeyPatch, logs: list[str]) -> None:
    monkeypatch.setenv(REALTIME_URL_ENV, "ws://127.0.0.1:9/v1/realtime")
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test", base_url="ws://127.0.0.1:1/x")
    assert service.base_url.startswith("ws://127.0.0.1:1/x?")
    assert not any(REALTIME_URL_ENV in line for line in logs)  # the env var was not read, so not logged


def test_the_url_from_the_env_var_is_logged_without_its_query(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    monkeypatch.setenv("OPENAI_REALTIME_URL", "ws://127.0.0.1:9/v1/realtime?key=sk-secret?x=1")
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test")
    assert service.base_url.startswith("ws://127.0.0.1:9/v1/realtime?key=sk-secret?x=1")
    line = next(line for line in logs if "Realtime URL from OPENAI_REALTIME_URL" in line)
    assert line.rstrip().endswith(
        f"{service}: Realtime URL from OPENAI_REALTIME_URL: 'ws://127.0.0.1:9/v1/realtime'"
    )
    assert "sk-secret" not in "".join(logs)
