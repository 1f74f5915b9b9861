"""With ``record`` on, the service's ``on_session_reconnected`` lands on the timeline as ``reconnect``
(reason cut at 200 characters), whether the service was given or found among the processors pushing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pipecat.observers.base_observer import FramePushed
from pipecat.processors.frame_processor import FrameProcessor

from pipecat_twilio_realtime import OpenAIRealtimeMuLawLLMService, TwilioMediaStreamSerializer

from .. import _twilio_helpers as tw
from ._observer_harness import DOWN, Clock, Harness, in_audio

Handler = Callable[[Any, str], Awaitable[None]]


class FakeService:
    """Just the event-handler surface of a Pipecat service."""

    def __init__(self, events: tuple[str, ...] = ("on_session_reconnected",)) -> None:
        self._event_handlers: dict[str, list[Handler]] = {name: [] for name in events}
        self.added: list[tuple[str, Handler]] = []

    def add_event_handler(self, name: str, handler: Handler) -> None:
        self.added.append((name, handler))
        self._event_handlers[name].append(handler)


async def harness(service: Any = None, **params: Any) -> tuple[Harness, list[dict[str, Any]]]:
    clock = Clock()
    serializer = TwilioMediaStreamSerializer(clock=clock)
    h = Harness(serializer, service=service, clock=clock, noise_alarm=False, **params)
    calls: list[dict[str, Any]] = []

    @h.observer.event_handler("on_recording")
    async def on_recording(_o: Any, _wav: Path | None, call: dict[str, Any]) -> None:
        calls.append(call)

    await serializer.deserialize(tw.start())
    await serializer.deserialize(tw.media(2, b"\xff" * 160))  # the call clock: 0.02 s at 50 s
    return h, calls


def reconnects(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    [call] = calls
    return [e for e in call["timeline"]["events"] if e["kind"] == "reconnect"]


async def test_a_given_services_reconnect_reaches_the_timeline_with_its_reason_cut() -> None:
    service = FakeService()
    h, calls = await harness(service, record=True, record_audio=False)
    [(name, handler)] = service.added
    assert name == "on_session_reconnected"
    h.clock.now = 51.0
    await handler(service, "x" * 250)
    await handler(service, 42)  # type: ignore[arg-type] # any reason becomes text
    await h.end()
    got = reconnects(calls)
    assert [(e["t"], e["reason"]) for e in got] == [(1.02, "x" * 200), (1.02, "42")]


async def test_no_hook_without_recording_or_without_the_event() -> None:
    plain = FakeService()
    await harness(plain)  # record off
    other = FakeService(events=("on_something_else",))
    await harness(other, record=True, record_audio=False)
    assert plain.added == [] and other.added == []


async def test_a_service_without_event_handlers_is_left_alone() -> None:
    h, calls = await harness(object(), record=True, record_audio=False)  # e.g. a stand-in service
    await h.end()
    assert reconnects(calls) == [] and h.summaries


async def test_a_found_realtime_service_is_watched_once() -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test", reply_guard=False)
    before = len(service._event_handlers["on_session_reconnected"].handlers)
    h, calls = await harness(record=True, record_audio=False)
    for _ in range(2):
        await h.observer.on_push_frame(
            FramePushed(
                source=service,
                destination=FrameProcessor(),
                frame=in_audio(1),
                direction=DOWN,
                timestamp=0,
                first_push=True,
            )
        )
    handlers = service._event_handlers["on_session_reconnected"].handlers
    assert len(handlers) == before + 1
    h.clock.now = 50.5
    await service._call_event_handler("on_session_reconnected", "socket closed")
    import asyncio

    for _ in range(5):
        await asyncio.sleep(0)
    await h.end()
    assert [(e["t"], e["reason"]) for e in reconnects(calls)] == [(0.52, "socket closed")]


async def test_a_found_service_is_not_watched_without_recording() -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test", reply_guard=False)
    before = len(service._event_handlers["on_session_reconnected"].handlers)
    h, _ = await harness()
    await h.observer.on_push_frame(
        FramePushed(
            source=service,
            destination=FrameProcessor(),
            frame=in_audio(1),
            direction=DOWN,
            timestamp=0,
            first_push=True,
        )
    )
    assert len(service._event_handlers["on_session_reconnected"].handlers) == before
