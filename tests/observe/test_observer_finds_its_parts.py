"""An observer given nothing takes the serializer from a transport and the Realtime service from the
processors it sees pushing (as source or destination), keeps what it was given or found first, and reads
the wire's hooks: media, clears and marks on its clock, DRY lines timed from the call's first frame.
"""

from __future__ import annotations

import json

from pipecat.frames.frames import (
    EndFrame,
    Frame,
    InterruptionFrame,
    TTSTextFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import FramePushed
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams

from pipecat_twilio_realtime import (
    MediaStatsObserver,
    OpenAIRealtimeMuLawLLMService,
    TwilioMediaStreamSerializer,
)
from pipecat_twilio_realtime.twilio.frames import TwilioMarkRequestFrame

from .. import _twilio_helpers as tw
from ._observer_harness import DOWN, Harness, Params, in_audio, out_audio


def service() -> OpenAIRealtimeMuLawLLMService:
    return OpenAIRealtimeMuLawLLMService(api_key="sk-test", reply_guard=False)


def transport(serializer: TwilioMediaStreamSerializer) -> BaseOutputTransport:
    return BaseOutputTransport(FastAPIWebsocketParams(serializer=serializer))


async def push(observer: MediaStatsObserver, source: object, destination: object, frame: Frame) -> None:
    await observer.on_push_frame(
        FramePushed(
            source=source,  # type: ignore[arg-type]
            destination=destination,  # type: ignore[arg-type]
            frame=frame,
            direction=DOWN,
            timestamp=0,
            first_push=True,
        )
    )


async def started() -> TwilioMediaStreamSerializer:
    serializer = TwilioMediaStreamSerializer()
    await serializer.deserialize(tw.start())
    return serializer


async def test_the_serializer_is_taken_from_a_transport_pushing_or_pushed_to(logs: list[str]) -> None:
    for as_source in (True, False):
        serializer = await started()
        observer = MediaStatsObserver(params=Params(noise_alarm=False))
        other, out = FrameProcessor(), transport(serializer)
        await push(observer, out if as_source else other, other if as_source else out, in_audio(1))
        await serializer.serialize(out_audio(b"\x55" * 320))
        stats = observer.stats
        assert (stats.tx_bytes, stats.tx_frames, stats.stream_sid) == (320, 1, tw.STREAM_SID)
        await serializer.serialize(EndFrame())  # the wire's end reaches the observer it was found by
        assert sum("WS_STOP" in line for line in logs) == (1 if as_source else 2)
    assert sum("found the serializer" in line for line in logs) == 2


async def test_the_serializer_found_first_is_kept() -> None:
    first, second = await started(), await started()
    observer = MediaStatsObserver(params=Params(noise_alarm=False))
    await push(observer, transport(first), FrameProcessor(), in_audio(1))
    await push(observer, transport(second), FrameProcessor(), in_audio(1))
    await second.serialize(out_audio(b"\x55" * 160))
    await first.serialize(out_audio(b"\x55" * 320))
    assert observer.stats.tx_bytes == 320


async def test_the_service_is_found_pushing_or_pushed_to_and_its_stats_summarised(logs: list[str]) -> None:
    for as_source in (True, False):
        observer = MediaStatsObserver(params=Params(noise_alarm=False))
        a, b, llm = FrameProcessor(), FrameProcessor(), service()
        await push(observer, a, b, in_audio(1))  # plain processors are not the service
        await push(observer, llm if as_source else a, a if as_source else llm, in_audio(1))
        summary = await observer.finish()
        assert summary["realtime"] == llm.stats.as_dict()
        assert observer._service is llm
    assert sum("found the Realtime service" in line for line in logs) == 2


async def test_one_part_given_the_other_is_still_found() -> None:
    serializer = await started()
    h = Harness(serializer, noise_alarm=False)
    llm = service()
    await push(h.observer, llm, FrameProcessor(), in_audio(1))
    assert "realtime" in await h.observer.finish()
    found = await started()
    observer = MediaStatsObserver(service=service(), params=Params(noise_alarm=False))
    await push(observer, transport(found), FrameProcessor(), in_audio(1))
    await found.serialize(out_audio(b"\x55" * 160))
    assert observer.stats.tx_bytes == 160


async def test_wire_media_is_logged_and_times_the_first_reply(logs: list[str]) -> None:
    serializer = await started()
    h = Harness(serializer, noise_alarm=False, log_frames=True)
    await h.push(UserStoppedSpeakingFrame(), at=60.0)
    h.clock.now = 60.3
    await serializer.serialize(out_audio(b"\x55" * 160))
    assert [round(v) for v in h.observer.stats.first_reply_ms] == [300]
    assert any(f"TX stream={tw.STREAM_SID} bytes=160 head=" in line for line in logs)


async def test_the_lead_after_a_clear_is_read_on_the_observers_clock() -> None:
    serializer = await started()
    h = Harness(serializer, noise_alarm=False)
    h.clock.now = 60.0
    await serializer.serialize(InterruptionFrame())  # a clear: Twilio's buffer is known empty
    await serializer.serialize(out_audio(b"\x55" * 800))
    h.clock.now = 60.09  # 10 ms sooner than the first message lasts: still paced, a lead sample
    await serializer.serialize(out_audio(b"\x55" * 800))  # 800 sent, 720 played: 10 ms ahead
    await h.end()
    assert h.summaries[0]["twilio_lead_min_ms"] == 10.0


async def mark_name(serializer: TwilioMediaStreamSerializer, label: str) -> str:
    message = await serializer.serialize(TwilioMarkRequestFrame(label=label))
    assert isinstance(message, str)
    return str(json.loads(message)["mark"]["name"])


async def test_a_dry_line_is_timed_from_the_calls_first_frame(logs: list[str]) -> None:
    serializer = await started()
    h = Harness(serializer, noise_alarm=False)  # created at 50.0
    await h.push(TTSTextFrame(text="hi", aggregated_by="word"), at=60.0)  # the call's first frame
    await serializer.serialize(out_audio(b"\x55" * 1000))
    a = await mark_name(serializer, "a")
    await serializer.serialize(out_audio(b"\x55" * 1000))
    b = await mark_name(serializer, "b")
    await mark_name(serializer, "c")  # still pending at the end
    h.clock.now = 60.125
    await serializer.deserialize(tw.mark(20, a))
    h.clock.now = 60.375  # 125 ms late: the caller heard silence
    await serializer.deserialize(tw.mark(21, b))
    await h.end()
    dry = [line for line in logs if "DRY stream=" in line]
    assert len(dry) == 1 and "ran dry for 125 ms at 0.1 s" in dry[0], dry
