"""Hang-up through the real twilio SDK at call end: once, with the given credentials, never after Twilio's
``stop``, never raising when Twilio fails or does not answer, no connection pool left open.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import twilio.rest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
)
from twilio.rest import Client

from pipecat_twilio_realtime import (
    TwilioStopFrame,
    twilio_rest,
)
from pipecat_twilio_realtime.testing.serve import free_port

from .. import _twilio_helpers as tw
from .._twilio_helpers import TOKEN, fake_twilio_rest, sdk_client
from ._serializer_harness import Params, started


@pytest.fixture(autouse=True)
def _no_twilio_edge_or_region(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The SDK rewrites hostnames when these are set; keep every request on our loopback server.
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    yield


def _basic(header: str) -> str:
    scheme, _, value = header.partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(value).decode()


async def test_end_frame_hangs_up_once_through_the_twilio_sdk(logs: list[str]) -> None:
    posts: list[dict[str, Any]] = []
    async with tw.serve(fake_twilio_rest(posts)) as port:
        serializer = await started(
            call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, twilio_client=sdk_client(port)
        )
        assert await serializer.serialize(EndFrame()) is None
        assert await serializer.serialize(EndFrame()) is None
        assert await serializer.serialize(CancelFrame()) is None
    assert len(posts) == 1
    assert (posts[0]["account"], posts[0]["call"]) == (tw.ACCOUNT_SID, tw.CALL_SID)
    assert posts[0]["form"] == {"Status": "completed"}
    assert _basic(posts[0]["auth"]) == f"{tw.ACCOUNT_SID}:{TOKEN}"
    assert not any(TOKEN in line for line in logs)


async def test_cancel_frame_hangs_up_too() -> None:
    posts: list[dict[str, Any]] = []
    async with tw.serve(fake_twilio_rest(posts)) as port:
        serializer = await started(
            call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, twilio_client=sdk_client(port)
        )
        await serializer.serialize(CancelFrame())
    assert [p["form"] for p in posts] == [{"Status": "completed"}]


async def test_no_hang_up_after_twilio_stop() -> None:
    posts: list[dict[str, Any]] = []
    async with tw.serve(fake_twilio_rest(posts)) as port:
        serializer = await started(
            call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, twilio_client=sdk_client(port)
        )
        assert isinstance(await serializer.deserialize(tw.stop(9)), TwilioStopFrame)
        await serializer.serialize(EndFrame())
        await serializer.serialize(CancelFrame())
    assert posts == []


async def test_a_404_from_twilio_does_not_raise(logs: list[str]) -> None:
    posts: list[dict[str, Any]] = []
    async with tw.serve(fake_twilio_rest(posts, status=404)) as port:
        serializer = await started(
            call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, twilio_client=sdk_client(port)
        )
        assert await serializer.serialize(EndFrame()) is None  # the call is already over
    assert len(posts) == 1
    assert any("already over" in line for line in logs)
    assert not any("ERROR" in line for line in logs)


def point_twilio_clients_at(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    """Send every ``twilio.rest.Client`` the serializer builds itself to a loopback port.

    The serializer imports ``Client`` when it hangs up, so replacing the module attribute reaches its
    default path (a client built from ``account_sid``/``auth_token``) without touching the internet.
    """

    class LoopbackClient(Client):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.api.base_url = f"http://127.0.0.1:{port}"

    monkeypatch.setattr(twilio.rest, "Client", LoopbackClient)


async def test_without_credentials_no_hang_up_is_attempted(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    # The worst case: Twilio credentials in the environment (the SDK reads them when given none) and a
    # Client that reaches our fake server. Without a call SID the serializer must not try at all.
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", tw.ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    posts: list[dict[str, Any]] = []
    async with tw.serve(fake_twilio_rest(posts)) as port:
        point_twilio_clients_at(monkeypatch, port)
        serializer = await started()
        assert await serializer.serialize(EndFrame()) is None
        assert await serializer.serialize(CancelFrame()) is None
    assert posts == []
    assert not any("hung up" in line or "hang up" in line for line in logs)


async def test_the_default_client_hangs_up_with_the_given_credentials(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    posts: list[dict[str, Any]] = []
    async with tw.serve(fake_twilio_rest(posts)) as port:
        point_twilio_clients_at(monkeypatch, port)
        serializer = await started(call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, auth_token=TOKEN)
        assert await serializer.serialize(CancelFrame()) is None
        assert await serializer.serialize(EndFrame()) is None
    assert len(posts) == 1
    assert (posts[0]["account"], posts[0]["call"], posts[0]["form"]) == (
        tw.ACCOUNT_SID,
        tw.CALL_SID,
        {"Status": "completed"},
    )
    assert _basic(posts[0]["auth"]) == f"{tw.ACCOUNT_SID}:{TOKEN}"
    assert any("INFO" in line and f"hung up Twilio call {tw.CALL_SID}" in line for line in logs)
    assert not any(TOKEN in line for line in logs)


async def test_hang_up_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    posts: list[dict[str, Any]] = []
    async with tw.serve(fake_twilio_rest(posts)) as port:
        point_twilio_clients_at(monkeypatch, port)
        serializer = await started(
            call_sid=tw.CALL_SID,
            account_sid=tw.ACCOUNT_SID,
            auth_token=TOKEN,
            params=Params(auto_hang_up=False),
        )
        await serializer.serialize(EndFrame())
    assert posts == []


@pytest.mark.parametrize("default_client", [True, False])
async def test_an_unreachable_twilio_is_logged_not_raised(
    default_client: bool, monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    port = free_port()
    if default_client:
        point_twilio_clients_at(monkeypatch, port)
        serializer = await started(call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, auth_token=TOKEN)
    else:
        serializer = await started(
            call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, twilio_client=sdk_client(port)
        )
    assert await serializer.serialize(EndFrame()) is None
    assert await serializer.serialize(EndFrame()) is None  # tried once only
    errors = [line for line in logs if "ERROR" in line]
    assert len(errors) == 1
    assert f"failed to hang up Twilio call {tw.CALL_SID}" in errors[0] and "(status None)" in errors[0]
    assert not any(TOKEN in line for line in logs)


def failing_twilio_rest() -> FastAPI:
    """Twilio's REST API having a bad day: every call update is a 500."""
    app = FastAPI()

    @app.post("/2010-04-01/Accounts/{account}/Calls/{call}.json")
    async def update_call(account: str, call: str) -> JSONResponse:
        return JSONResponse(
            {"code": 20500, "message": "Internal Server Error", "status": 500}, status_code=500
        )

    return app


async def test_a_server_error_is_logged_with_its_status(logs: list[str]) -> None:
    async with tw.serve(failing_twilio_rest()) as port:
        serializer = await started(
            call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, twilio_client=sdk_client(port)
        )
        assert await serializer.serialize(EndFrame()) is None
    errors = [line for line in logs if "ERROR" in line]
    assert len(errors) == 1 and "TwilioRestException (status 500)" in errors[0]


async def test_a_404_is_a_debug_line_naming_the_call(logs: list[str]) -> None:
    posts: list[dict[str, Any]] = []
    async with tw.serve(fake_twilio_rest(posts, status=404)) as port:
        serializer = await started(
            call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, twilio_client=sdk_client(port)
        )
        await serializer.serialize(EndFrame())
    assert any("DEBUG" in line and f"Twilio call {tw.CALL_SID} was already over" in line for line in logs)


async def test_the_default_client_leaves_no_connection_pool_open(monkeypatch: pytest.MonkeyPatch) -> None:
    posts: list[dict[str, Any]] = []
    async with tw.serve(fake_twilio_rest(posts)) as port:
        point_twilio_clients_at(monkeypatch, port)
        serializer = await started(call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, auth_token=TOKEN)
        gc.collect()  # earlier tests' pooled clients (sdk_client) are not this serializer's
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await serializer.serialize(EndFrame())
            gc.collect()
    assert len(posts) == 1
    assert not [str(w.message) for w in caught if "Unclosed client session" in str(w.message)]


async def test_a_twilio_api_that_never_answers_does_not_hold_up_the_end(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await asyncio.sleep(30)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(twilio_rest, "_HANG_UP_TIMEOUT_S", 0.3)
    point_twilio_clients_at(monkeypatch, port)
    serializer = await started(call_sid=tw.CALL_SID, account_sid=tw.ACCOUNT_SID, auth_token=TOKEN)
    try:
        async with asyncio.timeout(5):
            assert await serializer.serialize(EndFrame()) is None
    finally:
        server.close()
    errors = [line for line in logs if "ERROR" in line]
    assert len(errors) == 1 and f"failed to hang up Twilio call {tw.CALL_SID}: TimeoutError" in errors[0]
