"""What the serializer tells its listeners (the observer's Twilio-buffer estimate) and its wire tap (the call
recorder): each event as it crosses the socket, with its own arguments and the serializer's clock."""

from __future__ import annotations

import json
from typing import Any

from pipecat.frames.frames import EndFrame, InterruptionFrame

from pipecat_twilio_realtime import TwilioMarkRequestFrame, TwilioMediaStreamSerializer

from .. import _twilio_helpers as tw
from ._serializer_harness import pcm_frame, pipeline_setup


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Tap:
    """A wire tap that writes down every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def inbound_media(self, ulaw: bytes, now: float) -> None:
        self.calls.append(("in", ulaw, now))

    def outbound_media(self, ulaw: bytes, now: float) -> None:
        self.calls.append(("out", ulaw, now))

    def clear_sent(self, now: float) -> None:
        self.calls.append(("clear", now))

    def mark_sent(self, name: str, ulaw_sent: int, now: float) -> None:
        self.calls.append(("mark", name, ulaw_sent, now))

    def mark_echoed(self, name: str, ulaw_sent: int | None, played: bool, now: float) -> None:
        self.calls.append(("echo", name, ulaw_sent, played, now))

    def stream_stopped(self, now: float) -> None:
        self.calls.append(("stop", now))


async def _call(clock: Clock) -> tuple[TwilioMediaStreamSerializer, Tap, list[tuple[Any, ...]]]:
    serializer = TwilioMediaStreamSerializer(clock=clock)
    await serializer.setup(pipeline_setup())
    await serializer.deserialize(tw.connected())
    await serializer.deserialize(tw.start())
    tap, heard = Tap(), []

    async def media(ulaw: bytes) -> None:
        heard.append(("media", ulaw))

    async def end() -> None:
        heard.append(("end",))

    serializer.set_wire_tap(tap)
    serializer.set_listeners(
        on_media_sent=media,
        on_end=end,
        on_mark_sent=lambda name, sent: heard.append(("mark", name, sent)),
        on_mark_echo=lambda name, played: heard.append(("echo", name, played)),
        on_clear=lambda: heard.append(("clear",)),
    )
    return serializer, tap, heard


async def _mark(serializer: TwilioMediaStreamSerializer, label: str) -> str:
    return str(json.loads(await serializer.serialize(TwilioMarkRequestFrame(label=label)))["mark"]["name"])


async def test_every_wire_event_reaches_the_tap_with_its_arguments_and_time() -> None:
    clock = Clock()
    serializer, tap, _ = await _call(clock)
    clock.now = 1.0
    await serializer.deserialize(tw.media(2, b"\x01" * 160))
    clock.now = 2.0
    await serializer.serialize(pcm_frame(b"\x02" * 160))
    clock.now = 3.0
    first = await _mark(serializer, "a")
    clock.now = 4.0
    await serializer.deserialize(tw.mark(3, first))
    clock.now = 5.0
    second = await _mark(serializer, "b")
    await serializer.serialize(InterruptionFrame())  # flushes the pending mark
    clock.now = 6.0
    await serializer.deserialize(tw.mark(4, second))
    clock.now = 7.0
    await serializer.deserialize(tw.stop(5))
    assert tap.calls == [
        ("in", b"\x01" * 160, 1.0),
        ("out", b"\x02" * 160, 2.0),
        ("mark", first, 160, 3.0),
        ("echo", first, 160, True, 4.0),
        ("mark", second, 160, 5.0),
        ("clear", 5.0),
        ("echo", second, 160, False, 6.0),
        ("stop", 7.0),
    ]
    serializer.set_wire_tap(None)
    await serializer.serialize(pcm_frame(b"\x03" * 160))
    assert len(tap.calls) == 8  # a tap taken away hears nothing more


async def test_the_listeners_hear_marks_echoes_clears_media_and_the_end() -> None:
    clock = Clock()
    serializer, _, heard = await _call(clock)
    await serializer.serialize(pcm_frame(b"\x02" * 160))
    first = await _mark(serializer, "a")
    await serializer.deserialize(tw.mark(2, first))
    second = await _mark(serializer, "b")
    await serializer.serialize(InterruptionFrame())
    await serializer.deserialize(tw.mark(3, second))  # Twilio's echo of the flushed mark
    await serializer.serialize(EndFrame())
    assert heard == [
        ("media", b"\x02" * 160),
        ("mark", first, 160),
        ("echo", first, True),
        ("mark", second, 160),
        ("clear",),
        ("echo", second, False),
        ("end",),
    ]


async def test_an_end_with_nothing_held_counts_and_says_nothing(logs: list[str]) -> None:
    serializer, _, _ = await _call(Clock())
    await serializer.serialize(EndFrame())
    assert serializer.stats.unsent_tail_bytes == 0
    assert not any("last audio" in line for line in logs)


async def test_the_unsent_tail_line_names_the_frame_size_and_the_serializer(logs: list[str]) -> None:
    serializer = TwilioMediaStreamSerializer(
        params=TwilioMediaStreamSerializer.InputParams(inbound_frame_ms=40)
    )
    await serializer.setup(pipeline_setup())
    await serializer.deserialize(tw.start())
    await serializer.deserialize(tw.media(2, b"\x01" * 160))
    await serializer.serialize(EndFrame())
    line = next(line for line in logs if "last audio" in line)
    assert f"{serializer} 160 B of the caller's last audio (under one 40 ms frame)" in line


async def test_an_unknown_echo_warning_names_the_serializer(logs: list[str]) -> None:
    serializer, _, _ = await _call(Clock())
    await serializer.deserialize(tw.mark(2, "not-ours"))
    assert any("WARNING" in line and f"{serializer} Twilio echoed a mark" in line for line in logs)


async def test_a_clear_before_any_audio_at_clock_zero_is_idle() -> None:
    serializer, _, _ = await _call(Clock())  # the clock reads 0.0: nothing was ever sent
    await serializer.serialize(InterruptionFrame())
    assert serializer.stats.clears_idle == 1


async def test_every_idle_clear_is_counted_and_a_clear_leaves_nothing_playing() -> None:
    serializer, _, _ = await _call(Clock())  # the clock stays at 0.0
    for _ in range(3):
        await serializer.serialize(InterruptionFrame())
    assert serializer.stats.clears_idle == 3 and serializer.stats.clears_sent == 3
