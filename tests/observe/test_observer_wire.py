"""MediaStatsObserver fed by the serializer's hook: each frame once, the summary once, final totals."""

from __future__ import annotations

from typing import Any

from pipecat.frames.frames import CancelFrame, EndFrame, OutputAudioRawFrame

from pipecat_twilio_realtime import MediaStatsObserver, TwilioMediaStreamSerializer, g711


def audio(ms: int) -> OutputAudioRawFrame:
    return OutputAudioRawFrame(audio=g711.decode(b"\x10\x90" * (ms * 4)), sample_rate=8000, num_channels=1)


async def test_observer_reads_first_pushes_only_and_the_wire_from_the_serializer(logs: list[str]) -> None:
    serializer = TwilioMediaStreamSerializer(stream_sid="MZ" + "1" * 32)
    observer = MediaStatsObserver(serializer=serializer)
    summaries: list[dict[str, Any]] = []

    @observer.event_handler("on_call_summary")
    async def on_summary(_observer: Any, summary: dict[str, Any]) -> None:
        summaries.append(summary)

    assert observer.observe_every_push is False
    for ms in (100, 100, 40):  # a reply's last chunk is whatever the transport sends
        assert await serializer.serialize(audio(ms)) is not None
    assert observer.stats.tx_frames == 3 and observer.stats.tx_bytes == 240 * 8
    await serializer.serialize(audio(100))  # the end silence the transport writes goes into the total
    await serializer.serialize(EndFrame())
    await serializer.serialize(CancelFrame())  # a second end signal changes nothing
    await observer.cleanup()  # nor does the worker's cleanup
    assert len(summaries) == 1
    assert summaries[0]["tx_bytes"] == 340 * 8 and summaries[0]["tx_frames"] == 4
    assert len([line for line in logs if "WS_STOP" in line]) == 1


async def test_summary_at_cleanup_when_the_serializer_never_saw_the_end(logs: list[str]) -> None:
    serializer = TwilioMediaStreamSerializer(stream_sid="MZ" + "2" * 32)
    observer = MediaStatsObserver(serializer=serializer)
    await serializer.serialize(audio(100))
    await observer.cleanup()  # the caller's socket was gone: the transport never serialized EndFrame
    stop = [line for line in logs if "WS_STOP" in line]
    assert len(stop) == 1 and "tx=800 " in stop[0]
