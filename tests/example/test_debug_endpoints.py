"""The soak's debug endpoints: off by default, loopback clients only, numbers that move with the process."""

from __future__ import annotations

import asyncio

import aiohttp
from fastapi.testclient import TestClient

from pipecat_twilio_realtime.example import create_app, load_settings
from pipecat_twilio_realtime.example.debug import DEBUG_SETTING

from .._twilio_helpers import serve

ENV = {"ALLOW_UNSIGNED": "1", "OPENAI_API_KEY": "sk-x", "PUBLIC_HOST": "bot.example"}


def test_off_unless_switched_on(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(DEBUG_SETTING, raising=False)
    client = TestClient(create_app(load_settings(ENV)), client=("127.0.0.1", 5000))
    assert client.get("/debug/process").status_code == 404


def test_a_stranger_gets_404_and_a_log_line_naming_it(monkeypatch, logs: list[str]) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(DEBUG_SETTING, "1")
    client = TestClient(create_app(load_settings(ENV)), client=("203.0.113.7", 5000))
    assert client.get("/debug/process").status_code == 404
    assert client.post("/debug/tracemalloc/baseline").status_code == 404
    assert any("refused a debug request from 203.0.113.7: loopback only" in line for line in logs)


async def test_loopback_sees_tasks_and_tracemalloc_says_when_it_is_off(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(DEBUG_SETTING, "1")
    async with serve(create_app(load_settings(ENV))) as port, aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{port}/debug"
        async with http.get(f"{url}/process?gc=1") as r:
            before = await r.json()
        extra = [asyncio.create_task(asyncio.sleep(30)) for _ in range(5)]
        async with http.get(f"{url}/process") as r:
            during = await r.json()
        for task in extra:
            task.cancel()
        async with http.post(f"{url}/tracemalloc/baseline") as r:
            status = r.status
    assert set(before) == {"rss_kb", "fds", "threads", "tasks", "objects", "traced_kb"}
    assert before["rss_kb"] > 10_000 and before["fds"] > 3 and before["threads"] >= 1
    assert during["tasks"] == before["tasks"] + 5
    assert status == 409  # tracemalloc is started only by PYTHONTRACEMALLOC
