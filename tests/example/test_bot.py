"""The example bot: configuration errors, TwiML, the media-stream endpoint, its example tool."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import os
import socket
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from pipecat_twilio_realtime.cli.simulate import bit_exact_fraction
from pipecat_twilio_realtime.testing import (
    RealtimeStandIn,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    WaitForBotSilence,
    load_clip,
)

from .._twilio_helpers import serve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bot() -> ModuleType:
    """The example bot as shipped in the wheel."""
    return importlib.import_module("pipecat_twilio_realtime.example")


def test_missing_settings_are_named(bot: ModuleType) -> None:
    with pytest.raises(bot.ConfigError, match="OPENAI_API_KEY"):
        bot.load_settings({})
    with pytest.raises(bot.ConfigError, match="TWILIO_AUTH_TOKEN"):
        bot.load_settings({"ALLOW_UNSIGNED": "1", "OPENAI_API_KEY": "sk-x", "TWILIO_ACCOUNT_SID": "AC1"})
    settings = bot.load_settings(
        {
            "OPENAI_API_KEY": "sk-secret",
            "TWILIO_ACCOUNT_SID": "AC1",
            "TWILIO_AUTH_TOKEN": "tok-secret-0123456789",
            "PUBLIC_HOST": "https://x.example/",
        }
    )
    assert settings.public_host == "x.example"
    assert "secret" not in repr(settings)


async def test_twiml_connects_the_call_to_the_stream(bot: ModuleType) -> None:
    app = bot.create_app(
        bot.load_settings({"ALLOW_UNSIGNED": "1", "OPENAI_API_KEY": "sk-x", "PUBLIC_HOST": "bot.example"})
    )
    async with serve(app) as port, aiohttp.ClientSession() as client:
        form = {"From": "+15551234567", "CallSid": "CA1"}
        async with client.post(f"http://127.0.0.1:{port}/twiml", data=form) as response:
            status, content_type, text = (
                response.status,
                response.headers["content-type"],
                await response.text(),
            )
    assert status == 200 and content_type.startswith("application/xml")
    root = ET.fromstring(text)
    stream = root.find("./Connect/Stream")
    assert stream is not None and stream.get("url") == "wss://bot.example/ws"
    parameter = stream.find("Parameter")
    assert parameter is not None and (parameter.get("name"), parameter.get("value")) == (
        "caller",
        "+15551234567",
    )


async def test_twiml_without_public_host_says_so(bot: ModuleType) -> None:
    app = bot.create_app(bot.load_settings({"ALLOW_UNSIGNED": "1", "OPENAI_API_KEY": "sk-x"}))
    async with serve(app) as port, aiohttp.ClientSession() as client:
        async with client.post(f"http://127.0.0.1:{port}/twiml", data={"From": "x"}) as response:
            status, text = response.status, await response.text()
    assert status == 500 and "PUBLIC_HOST" in text


async def test_a_socket_that_never_starts_is_closed(bot: ModuleType) -> None:
    settings = dataclasses.replace(
        bot.load_settings({"ALLOW_UNSIGNED": "1", "OPENAI_API_KEY": "sk-x"}), start_timeout_secs=0.3
    )
    async with serve(bot.create_app(settings)) as port, connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await ws.send('{"event": "connected", "protocol": "Call", "version": "1.0.0"}')
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_example_tool_answers_through_the_realtime_session(bot: ModuleType) -> None:
    async with RealtimeStandIn(speed=8.0, function_call=("get_opening_hours", {"day": "sunday"})) as standin:
        settings = bot.load_settings(
            {"ALLOW_UNSIGNED": "1", "OPENAI_API_KEY": "sk-x", "OPENAI_REALTIME_URL": standin.url}
        )
        async with serve(bot.create_app(settings)) as port:
            script = [
                WaitForBotAudio(after_s=0.2),
                WaitForBotSilence(),
                Speech(load_clip("caller_question")),
                WaitForBotAudio(after_s=0.2, timeout_s=8),
                WaitForBotSilence(),
            ]
            report = await asyncio.wait_for(
                SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script).run(), 60
            )
    outputs = [
        e["item"]
        for e in standin.received
        if e["type"] == "conversation.item.create" and e["item"].get("type") == "function_call_output"
    ]
    assert outputs and '"closed"' in outputs[0]["output"]
    assert standin.errors == []
    assert report.violations == [] and len(report.received_audio) > 16000


async def test_end_call_tool_hangs_up(bot: ModuleType) -> None:
    async with RealtimeStandIn(speed=8.0, function_call=("end_call", {})) as standin:
        settings = bot.load_settings(
            {"ALLOW_UNSIGNED": "1", "OPENAI_API_KEY": "sk-x", "OPENAI_REALTIME_URL": standin.url}
        )
        app = bot.create_app(settings)
        async with serve(app) as port:
            script = [WaitForBotAudio(after_s=0.2), WaitForBotSilence(), Speech(load_clip("caller_question"))]
            script += [WaitForBotAudio(after_s=30, timeout_s=10)]  # the bot should hang up before this ends
            report = await asyncio.wait_for(
                SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script).run(), 60
            )
    assert report.bot_closed_first
    assert any(
        e["type"] == "conversation.item.create" and e["item"].get("type") == "function_call_output"
        for e in standin.received
    )
    assert app.state.call_summaries  # the call ended cleanly through the pipeline, summary written


async def test_bot_py_runs_under_pipecats_runner(tmp_path: Path) -> None:
    """``bot.py -t twilio -x HOST``: the runner serves /ws; its bot() runs our serializer and service."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with RealtimeStandIn(speed=8.0) as standin:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "OPENAI_API_KEY": "sk-offline",
            "ALLOW_UNSIGNED": "1",
            "OPENAI_REALTIME_URL": standin.url,
        }
        for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
            env.pop(name, None)
        args = [sys.executable, str(ROOT / "examples/twilio_bot/bot.py"), "-t", "twilio", "-x", "bot.example"]
        args += ["--host", "127.0.0.1", "--port", str(port)]
        with (tmp_path / "runner.log").open("w") as log:
            runner = await asyncio.create_subprocess_exec(
                *args, env=env, cwd=tmp_path, stdout=log, stderr=log
            )
            try:
                async with asyncio.timeout(60):  # start-up wait, not a timed assertion
                    while True:
                        assert runner.returncode is None, (tmp_path / "runner.log").read_text()
                        try:
                            _, writer = await asyncio.open_connection("127.0.0.1", port)
                            writer.close()
                            break
                        except OSError:
                            await asyncio.sleep(0.2)
                script = [WaitForBotAudio(after_s=0.2), WaitForBotSilence()]
                report = await asyncio.wait_for(
                    SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script).run(), 60
                )
            finally:
                runner.terminate()
                await runner.wait()
    assert report.violations == []
    greeting = load_clip("bot_greeting")
    assert len(report.received_audio) >= len(greeting) - 160  # the whole greeting, as μ-law on the wire
    assert bit_exact_fraction(bytes(report.received_audio), standin.reply_audio) == 1.0
    assert any(e["type"] == "session.update" for e in standin.received)  # our service configured the session
    assert "(hang-up through Twilio: False)" in (tmp_path / "runner.log").read_text()  # our run_bot, unsigned
