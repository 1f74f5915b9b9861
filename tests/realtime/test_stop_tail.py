"""The partial append batch held when the call stops reaches OpenAI, or is counted as dropped."""

from __future__ import annotations

import pytest

from tests.realtime.test_service_mutants import Harness, caller


async def test_stop_sends_the_partial_append_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch, append_interval_ms=60)
    h.service._format_confirmed = True
    for n in range(4):  # 80 ms: one full 60 ms append, 20 ms held
        await h.service._send_user_audio(caller(bytes([n + 1]) * 160))
    assert len(h.appended()) == 480
    await h.service._flush_tail()
    assert h.appended() == b"".join(bytes([n + 1]) * 160 for n in range(4))
    assert h.service.stats.appended_bytes == 640 and h.service.stats.dropped_input_bytes == 0
    await h.service._flush_tail()  # nothing held: nothing more sent
    assert len(h.socket.of_type("input_audio_buffer.append")) == 2


async def test_stop_without_a_session_counts_the_tail_as_dropped(
    monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    h = Harness(monkeypatch, append_interval_ms=60)
    h.service._format_confirmed = True
    await h.service._send_user_audio(caller(b"\x01" * 160))
    h.service._websocket = None  # the session is already gone
    await h.service._flush_tail()
    assert h.appended() == b"" and h.service.stats.dropped_input_bytes == 160
    assert sum("dropped 160 B of caller audio at stop" in line for line in logs) == 1


async def test_stop_flushes_before_the_session_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipecat.frames.frames import EndFrame
    from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService

    h = Harness(monkeypatch, append_interval_ms=60)
    seen_at_close: list[bytes] = []

    async def stock_stop(_self: object, _frame: object) -> None:  # the stock stop closes the socket
        seen_at_close.append(h.appended())

    monkeypatch.setattr(OpenAIRealtimeLLMService, "stop", stock_stop)
    h.service._format_confirmed = True
    await h.service._send_user_audio(caller(b"\x07" * 160))
    await h.service.stop(EndFrame())
    assert seen_at_close == [b"\x07" * 160]
