"""Server errors and a closed socket: a rejected truncate is recoverable, anything else ends the call once,
named; the 60-minute limit is no error frame.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pipecat.frames.frames import (
    ErrorFrame,
)
from pipecat.services.openai.realtime import events
from websockets.protocol import State

from ._service_harness import Harness


def error_event(code: str | None, message: str = "nope", param: str | None = None) -> Any:
    return events.parse_server_event(
        json.dumps(
            {
                "type": "error",
                "event_id": "evt",
                "error": {"type": "invalid_request_error", "code": code, "message": message, "param": param},
            }
        )
    )


@pytest.mark.parametrize(
    ("code", "param"),
    [("item_truncate_invalid_audio_end_ms", None), (None, "audio_end_ms"), ("x", "a.audio_end_ms")],
)
async def test_a_rejected_truncate_is_recoverable(
    monkeypatch: pytest.MonkeyPatch, code: str | None, param: str | None, logs: list[str]
) -> None:
    h = Harness(monkeypatch)
    await h.service._handle_evt_error(error_event(code, param=param))
    assert h.service._recoverable_error and h.service.stats.recovered_errors == 1
    assert h.service._fatal_error is None and h.pushed(ErrorFrame) == []
    assert any("WARNING" in line and "rejected a truncate (nope)" in line for line in logs)


async def test_any_other_error_is_fatal_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    await h.service._handle_evt_error(error_event("server_error", "x" * 200))
    assert not h.service._recoverable_error and h.service.stats.recovered_errors == 0
    assert h.service._fatal_error == "error event server_error: " + "x" * 160
    assert len(h.pushed(ErrorFrame)) == 1 and not h.service._expired
    await h.service._handle_evt_error(error_event(None, "m"))
    assert h.service._fatal_error == "error event invalid_request_error: m"


async def test_the_session_time_limit_is_not_an_error_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    await h.service._handle_evt_error(error_event("session_expired", "Your session hit the maximum duration"))
    assert h.service._expired and h.pushed(ErrorFrame) == []  # it reconnects instead


async def test_a_closed_socket_ends_the_call_once_and_later_sends_are_counted(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    h = Harness(monkeypatch)
    h.socket.state = State.CLOSED
    for _ in range(3):
        await h.service.send_client_event(events.ResponseCancelEvent())
    assert h.socket.sent == [] and h.service.stats.dropped_after_loss == 3
    assert h.spawned == ["SessionLifecycle._reconnect"]  # once, not per send: a new session is opened


async def test_a_closed_socket_without_reconnects_ends_the_call_once(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    h = Harness(monkeypatch, reconnect_attempts=0)
    h.socket.state = State.CLOSED
    for _ in range(3):
        await h.service.send_client_event(events.ResponseCancelEvent())
    assert h.service.stats.realtime_lost == 1 and h.service.stats.dropped_after_loss == 3
    assert h.spawned == ["play_and_end"]
    assert sum("lost the OpenAI Realtime session (the connection is closed)" in line for line in logs) == 1


async def test_an_open_socket_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    await h.service.send_client_event(events.ResponseCancelEvent())
    assert h.socket.sent == [{"type": "response.cancel"}] and h.service.stats.dropped_after_loss == 0
