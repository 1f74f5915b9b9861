"""The caller's last audio at call end: the partial batch and the serializer's partial frame are the
session's last append, in order, once; when the session cannot take them they are counted with why.
"""

from __future__ import annotations

import pytest
from pipecat.frames.frames import CancelFrame, EndFrame
from pipecat.processors.frame_processor import FrameDirection
from websockets.protocol import State

from pipecat_twilio_realtime import TwilioStopFrame, g711

from ._service_harness import Harness, caller


async def _end(h: Harness, how: str) -> None:
    """End the call as Pipecat does: ``stop`` on an EndFrame, ``cancel`` on a CancelFrame."""
    service = h.service
    frame = EndFrame() if how == "stop" else CancelFrame()
    await (service.stop(frame) if how == "stop" else service.cancel(frame))
    assert STOCK_ENDS[-1] is frame  # the stock service still ends with the same frame


STOCK_ENDS: list[object] = []  # the frames the stock stop/cancel were given


@pytest.fixture(autouse=True)
def _no_stock_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    # The stock stop/cancel disconnect the real socket and cancel tasks this harness never started.
    from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService

    async def record(_self: object, frame: object) -> None:
        STOCK_ENDS.append(frame)

    STOCK_ENDS.clear()
    monkeypatch.setattr(OpenAIRealtimeLLMService, "stop", record)
    monkeypatch.setattr(OpenAIRealtimeLLMService, "cancel", record)


@pytest.mark.parametrize("how", ["stop", "cancel"])
async def test_the_partial_batch_then_the_stop_tail_are_the_last_append_once(
    monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    h = Harness(monkeypatch, append_interval_ms=60)
    h.service._format_confirmed = True
    await h.service._send_user_audio(caller(b"\x01" * 160))  # 20 ms: held, under the 60 ms batch
    tail = b"\x02" * 80  # the serializer's partial 10 ms frame
    await h.service.process_frame(TwilioStopFrame(tail_audio=g711.decode(tail)), FrameDirection.DOWNSTREAM)
    assert h.appended() == b""
    await _end(h, how)
    assert h.appended() == b"\x01" * 160 + tail
    assert len(h.socket.of_type("input_audio_buffer.append")) == 1
    await _end(h, "stop")  # a cancel after a stop (or twice) sends nothing more
    assert len(h.socket.of_type("input_audio_buffer.append")) == 1
    assert h.service.stats.dropped_at_end_bytes == 0 and h.service.stats.dropped_at_end_reason is None


async def test_the_stop_tail_adds_to_what_is_held(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch, append_interval_ms=60)
    h.service._format_confirmed = True
    for byte in (b"\x03", b"\x04"):
        await h.service.process_frame(
            TwilioStopFrame(tail_audio=g711.decode(byte * 40)), FrameDirection.DOWNSTREAM
        )
    await _end(h, "stop")
    assert h.appended() == b"\x03" * 40 + b"\x04" * 40


async def test_an_odd_stop_tail_is_dropped_with_one_line(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    h = Harness(monkeypatch)
    h.service._format_confirmed = True
    await h.service.process_frame(TwilioStopFrame(tail_audio=b"\x00\x00\x01"), FrameDirection.DOWNSTREAM)
    await _end(h, "stop")
    assert h.appended() == b""
    assert sum("ERROR" in line and "dropped caller audio" in line for line in logs) == 1


async def test_nothing_held_sends_and_counts_nothing(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    h = Harness(monkeypatch)
    h.service._format_confirmed = True
    h.service._lost = True
    await _end(h, "stop")
    assert h.socket.sent == [] and h.service.stats.dropped_at_end_bytes == 0
    assert not any("last audio" in line for line in logs)


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("lost", "the session was already lost"),
        ("failed", "the session was already lost"),
        ("closed", "the session was already closed"),
        ("closing", "the connection is closing"),
    ],
)
async def test_audio_the_session_cannot_take_is_counted_with_why(
    monkeypatch: pytest.MonkeyPatch, logs: list[str], setup: str, reason: str
) -> None:
    h = Harness(monkeypatch, append_interval_ms=60)
    h.service._format_confirmed = True
    await h.service._send_user_audio(caller(b"\x05" * 160))
    await h.service.process_frame(
        TwilioStopFrame(tail_audio=g711.decode(b"\x06" * 8)), FrameDirection.DOWNSTREAM
    )
    if setup == "lost":
        h.service._lost = True
    elif setup == "failed":
        h.service._failed = True
    elif setup == "closed":
        h.service._websocket = None
    else:
        h.socket.state = State.CLOSING
    await _end(h, "stop")
    assert h.appended() == b""
    assert h.service.stats.dropped_at_end_bytes == 168
    assert h.service.stats.dropped_at_end_reason == reason
    assert (
        sum(
            "WARNING" in line and f"168 B of the caller's last audio not sent to OpenAI: {reason}" in line
            for line in logs
        )
        == 1
    )


async def test_before_the_session_confirmed_the_held_audio_is_all_counted(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    h = Harness(monkeypatch, append_interval_ms=60)
    await h.service._send_user_audio(caller(b"\x07" * 160))  # held for the session: 160 B
    await h.service.process_frame(
        TwilioStopFrame(tail_audio=g711.decode(b"\x08" * 16)), FrameDirection.DOWNSTREAM
    )
    await _end(h, "cancel")
    assert h.appended() == b""
    assert h.service.stats.dropped_at_end_bytes == 176
    assert h.service.stats.dropped_at_end_reason == "the session never confirmed audio/pcmu"
    assert h.service._pending_input == bytearray()
    assert sum("176 B of the caller's last audio" in line for line in logs) == 1
