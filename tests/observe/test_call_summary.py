"""The ``WS_STOP`` summary once per call with the wire totals and the service's stats, transcripts per reply,
``STATS`` lines every interval.
"""

from __future__ import annotations

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    TranscriptionFrame,
    TTSTextFrame,
)

from pipecat_twilio_realtime import TwilioMediaStreamSerializer

from .. import _twilio_helpers as tw
from ._observer_harness import Harness, in_audio, out_audio


async def test_the_summary_comes_once_from_the_output_transport_with_wire_totals(logs: list[str]) -> None:
    serializer = TwilioMediaStreamSerializer()
    await serializer.deserialize(tw.start())
    await serializer.deserialize(tw.media(2, b"\x01" * 160))
    await serializer.deserialize(tw.media(5, b"\x01" * 80))
    await serializer.deserialize("{oops")
    await serializer.serialize(out_audio(b"\x20" * 320))
    await serializer.serialize(InterruptionFrame())
    h = Harness(serializer, noise_alarm=False)
    await h.push(in_audio(100), at=100.0)
    await h.push(EndFrame())  # an EndFrame in the pipeline: the call is not over until the wire says so
    await h.push(EndFrame(), from_output=True)
    assert h.summaries == []
    h.clock.now = 102.5
    await h.end()
    await h.end(CancelFrame())
    await h.observer.cleanup()
    assert len(h.summaries) == 1
    s = h.summaries[0]
    assert (s["rx_bytes"], s["tx_bytes"], s["rx_seconds"], s["tx_seconds"]) == (240, 320, 0.03, 0.04)
    assert (s["clears"], s["malformed"], s["sequence_gaps"], s["stream_sid"]) == (1, 1, 1, tw.STREAM_SID)
    assert s["duration_s"] == 2.5
    lines = [line for line in logs if "WS_STOP" in line]
    assert len(lines) == 1
    assert (
        f"stream={tw.STREAM_SID} rx=240 tx=320 rx_s=0.03 tx_s=0.04 rx_frames=2 tx_frames=1" in lines[0]
    )  # Twilio messages
    assert "marks=0/0/0 clears=1 malformed=1 gaps=1" in lines[0] and "noise=none" in lines[0]
    again = await h.observer.finish()  # still returns the summary, logs nothing more
    assert again["rx_bytes"] == 240 and sum("WS_STOP" in line for line in logs) == 1


async def test_the_summary_includes_the_service_stats() -> None:
    class Service:
        class stats:
            @staticmethod
            def as_dict() -> dict[str, int]:
                return {"barge_ins": 3}

    h = Harness(noise_alarm=False)
    h.observer._service = Service()
    summary = await h.observer.finish()
    assert summary["realtime"] == {"barge_ins": 3}
    plain = Harness(noise_alarm=False)
    plain.observer._service = type("S", (), {"stats": {"x": 1}})()
    assert (await plain.observer.finish())["realtime"] == {"x": 1}
    none = Harness(noise_alarm=False)
    assert "realtime" not in await none.observer.finish()


async def test_transcripts_are_logged_per_reply(logs: list[str]) -> None:
    h = Harness(noise_alarm=False)
    await h.push(TTSTextFrame(text="Hello ", aggregated_by="word"))
    await h.push(TTSTextFrame(text="there. ", aggregated_by="word"))
    await h.push(LLMFullResponseEndFrame())
    await h.push(LLMFullResponseEndFrame())  # nothing new: no line
    await h.push(TranscriptionFrame(text="hi", user_id="u", timestamp="t"))
    assert (
        next(line for line in logs if "BOT stream=" in line).rstrip().endswith("BOT stream=- 'Hello there.'")
    )
    assert sum("BOT stream=" in line for line in logs) == 1
    assert any("CALLER stream=- 'hi'" in line for line in logs)
    quiet = Harness(noise_alarm=False, log_transcripts=False)
    logs.clear()
    await quiet.push(TTSTextFrame(text="Hello", aggregated_by="word"))
    await quiet.push(LLMFullResponseEndFrame())
    await quiet.push(TranscriptionFrame(text="hi", user_id="u", timestamp="t"))
    assert not any("BOT stream=" in line or "CALLER stream=" in line for line in logs)


async def test_stats_lines_every_interval(logs: list[str]) -> None:
    h = Harness(noise_alarm=False, stats_interval_s=10)
    await h.push(in_audio(1), at=0.0)
    await h.push(in_audio(1), at=9.9)
    assert not any("STATS" in line for line in logs)
    await h.push(in_audio(1), at=10.0)
    await h.push(in_audio(1), at=15.0)
    assert sum("STATS stream=" in line for line in logs) == 1
    await h.push(in_audio(1), at=20.0)
    assert sum("STATS stream=" in line for line in logs) == 2
    off = Harness(noise_alarm=False, stats_interval_s=0)
    logs.clear()
    for t in range(0, 100, 10):
        await off.push(in_audio(1), at=float(t))
    assert not any("STATS" in line for line in logs)
