"""Server errors, a closed socket and the receive loop: a rejected truncate is recoverable and resumes the
loop, anything else ends the call once, named; the 60-minute limit is no error frame but a reconnect; a
disconnect we asked for is no loss, and once the call ends no session is opened.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pipecat.frames.frames import EndFrame, ErrorFrame
from pipecat.services.openai.realtime import events
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService
from websockets.exceptions import PayloadTooBig
from websockets.protocol import State

from ._service_harness import Harness, session_updated


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


async def test_an_expired_session_is_not_an_error_frame(monkeypatch: pytest.MonkeyPatch) -> None:
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


class ReceiveLoop:
    """The stock receive loop replaced by a script of what each run of it does; losses recorded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, h: Harness, runs: list[Any]) -> None:
        self.runs, self.calls, self.lost = list(runs), 0, []

        async def stock_loop(service: Any) -> None:
            self.calls += 1
            step = self.runs.pop(0)
            if isinstance(step, BaseException):
                raise step
            if step is not None:
                await service._handle_evt_error(step)

        async def on_lost(reason: str, *, recoverable: bool = True) -> None:
            self.lost.append((reason, recoverable))

        monkeypatch.setattr(OpenAIRealtimeLLMService, "_receive_task_handler", stock_loop)
        h.service._on_realtime_lost = on_lost  # type: ignore[method-assign]


async def test_a_socket_that_fails_is_lost_recoverably_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch, max_message_bytes=1234)
    loop = ReceiveLoop(monkeypatch, h, [PayloadTooBig(2000, 1234)])
    await h.service._receive_task_handler()
    assert loop.calls == 1
    assert loop.lost == [("a Realtime message over 1234 bytes (the websocket max_size)", True)]


async def test_a_normal_close_is_lost_recoverably(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    loop = ReceiveLoop(monkeypatch, h, [None])
    await h.service._receive_task_handler()
    assert loop.lost == [("the server closed the connection", True)]


async def test_a_rejected_truncate_resumes_the_loop_and_a_fatal_error_ends_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch)
    loop = ReceiveLoop(
        monkeypatch,
        h,
        [error_event("item_truncate_invalid_audio_end_ms"), error_event("server_error", "boom")],
    )
    await h.service._receive_task_handler()
    assert loop.calls == 2
    assert loop.lost == [("error event server_error: boom", False)]


async def test_a_fatal_error_then_a_clean_run_reports_the_error_not_a_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch)
    h.service._fatal_error = "stale"  # cleared at the start of every run of the loop
    loop = ReceiveLoop(monkeypatch, h, [None])
    await h.service._receive_task_handler()
    assert loop.lost == [("the server closed the connection", True)]


async def test_a_rejected_truncate_on_a_closed_socket_ends_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    loop = ReceiveLoop(monkeypatch, h, [error_event("item_truncate_invalid_audio_end_ms")])
    h.service._websocket = None
    await h.service._receive_task_handler()
    assert loop.calls == 1 and loop.lost == [("the server closed the connection", True)]


async def test_an_expired_session_is_lost_recoverably(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    loop = ReceiveLoop(monkeypatch, h, [error_event("session_expired", "max duration")])
    await h.service._receive_task_handler()
    assert loop.lost == [("error event session_expired: max duration", True)]


async def test_a_disconnect_we_asked_for_is_no_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    loop = ReceiveLoop(monkeypatch, h, [None])
    h.service._disconnecting = True
    await h.service._receive_task_handler()
    assert loop.calls == 1 and loop.lost == []


@pytest.mark.parametrize("how", ["stop", "cancel", "cleanup"])
async def test_once_the_call_ends_no_session_is_opened(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    async def nothing(*_a: Any) -> None:
        return None

    for name in ("stop", "cancel", "cleanup"):
        monkeypatch.setattr(OpenAIRealtimeLLMService, name, nothing)
    h = Harness(monkeypatch)
    h.service._websocket = None
    await (h.service.cleanup() if how == "cleanup" else getattr(h.service, how)(EndFrame()))
    await h.service._connect()
    assert h.spawned == []


async def test_without_the_call_ending_a_closed_session_is_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    h.service._websocket = None
    await h.service._connect()
    assert h.spawned == ["SessionLifecycle._watch_session", "SessionLifecycle._open_session"]
    h.service._failed = True
    await h.service._connect()
    assert len(h.spawned) == 2


async def test_a_session_lost_after_it_was_confirmed_is_reopened(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch, reconnect_attempts=1)
    await h.service._handle_evt_session_updated(session_updated())
    h.socket.state = State.CLOSED
    await h.service.send_client_event(events.ResponseCancelEvent())
    assert h.spawned == ["SessionLifecycle._reconnect"] and h.service._reconnects_in_a_row == 0


async def test_every_rejected_truncate_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    for _ in range(3):
        await h.service._handle_evt_error(error_event("item_truncate_invalid_audio_end_ms"))
    assert h.service.stats.recovered_errors == 3


@pytest.mark.parametrize("state", ["lost", "failed"])
async def test_after_a_loss_or_failure_nothing_is_sent_even_on_an_open_socket(
    monkeypatch: pytest.MonkeyPatch, state: str
) -> None:
    h = Harness(monkeypatch)
    setattr(h.service, f"_{state}", True)
    await h.service.send_client_event(events.ResponseCancelEvent())
    assert h.socket.sent == [] and h.service.stats.dropped_after_loss == 1


async def test_with_no_socket_yet_a_send_goes_to_the_stock_path(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[Any] = []

    async def stock(_service: Any, message: Any) -> None:
        sent.append(message)

    monkeypatch.setattr(OpenAIRealtimeLLMService, "_ws_send", stock)
    h = Harness(monkeypatch)
    h.service._websocket = None
    await h.service._ws_send({"type": "response.cancel"})
    assert sent == [{"type": "response.cancel"}] and h.service.stats.dropped_after_loss == 0


async def test_cleanup_cancels_the_side_tasks_but_not_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    async def nothing(_self: Any) -> None:
        return None

    monkeypatch.setattr(OpenAIRealtimeLLMService, "cleanup", nothing)
    h = Harness(monkeypatch)
    cancelled: list[Any] = []

    async def cancel_task(task: Any, timeout: float | None = None) -> None:  # noqa: ASYNC109 - the stock signature
        cancelled.append((task, timeout))
        task.cancel()

    h.service.cancel_task = cancel_task  # type: ignore[method-assign]
    side = asyncio.create_task(asyncio.sleep(60))
    h.service._side_tasks.add(side)

    async def cleanup_from_a_side_task() -> None:
        await h.service.cleanup()

    me = asyncio.create_task(cleanup_from_a_side_task())
    h.service._side_tasks.add(me)
    await me
    assert cancelled == [(side, 1.0)]
    with pytest.raises(asyncio.CancelledError):
        await side


async def test_a_fatal_error_frame_carries_the_servers_error(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    await h.service._handle_evt_error(error_event("server_error", "the model is overloaded"))
    (frame,) = h.pushed(ErrorFrame)
    assert "server_error" in frame.error and "the model is overloaded" in frame.error
