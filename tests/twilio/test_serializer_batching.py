"""Inbound batching (``inbound_frame_ms``), the observer hook and the recommended outbound size."""

from __future__ import annotations

import importlib.util
import os
import random
from pathlib import Path

import pytest
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    InputAudioRawFrame,
    InputDTMFFrame,
    OutputAudioRawFrame,
)

from pipecat_twilio_realtime import (
    RECOMMENDED_INBOUND_FRAME_MS,
    RECOMMENDED_OUT_10MS_CHUNKS,
    TwilioMarkEchoFrame,
    TwilioMediaStreamSerializer,
    TwilioStopFrame,
    g711,
    recommended_transport_params,
)
from pipecat_twilio_realtime.twilio import protocol as tp

from .. import _twilio_helpers as tw
from ._serializer_harness import started

ROOT = Path(__file__).resolve().parents[2]


def batching(ms: int) -> TwilioMediaStreamSerializer:
    return TwilioMediaStreamSerializer(params=TwilioMediaStreamSerializer.InputParams(inbound_frame_ms=ms))


def frames_of(n: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    return [bytes(rng.randrange(256) for _ in range(160)) for _ in range(n)]


async def test_one_frame_per_three_messages_carries_all_their_audio_in_order() -> None:
    serializer = batching(60)
    await serializer.deserialize(tw.start())
    chunks = frames_of(9)
    out: list[InputAudioRawFrame] = []
    for i, ulaw in enumerate(chunks):
        frame = await serializer.deserialize(tw.media(i + 2, ulaw, chunk=i + 1))
        # the frame comes with the message that completes the batch: no audio waits longer than 40 ms
        assert (frame is not None) == (i % 3 == 2)
        if frame is not None:
            assert isinstance(frame, InputAudioRawFrame) and frame.sample_rate == 8000
            out.append(frame)
    assert b"".join(f.audio for f in out) == g711.decode(b"".join(chunks))
    assert serializer.stats.media_received == 9 and serializer.stats.audio_frames_in == 3
    assert serializer.stats.ulaw_bytes_received == 9 * 160


async def test_dtmf_and_mark_pass_at_once_and_the_batch_loses_nothing() -> None:
    serializer = batching(40)
    await serializer.deserialize(tw.start())
    a, b, c, d = frames_of(4, seed=2)
    assert await serializer.deserialize(tw.media(2, a)) is None
    assert isinstance(await serializer.deserialize(tw.dtmf(3, "5")), InputDTMFFrame)
    assert isinstance(await serializer.deserialize(tw.mark(4, "x")), TwilioMarkEchoFrame)
    first = await serializer.deserialize(tw.media(5, b))
    assert isinstance(first, InputAudioRawFrame) and first.audio == g711.decode(a + b)
    assert await serializer.deserialize(tw.media(6, c)) is None
    second = await serializer.deserialize(tw.media(7, d))
    assert isinstance(second, InputAudioRawFrame) and second.audio == g711.decode(c + d)


async def test_stop_ends_the_call_and_counts_a_partial_batch() -> None:
    serializer = batching(60)
    await serializer.deserialize(tw.start())
    for i, ulaw in enumerate(frames_of(2)):
        assert await serializer.deserialize(tw.media(i + 2, ulaw)) is None
    assert isinstance(await serializer.deserialize(tw.stop(4)), TwilioStopFrame)
    assert serializer.stats.stop_tail_bytes == 320
    assert serializer.stats.ulaw_bytes_received == 320  # received and counted, never silently gone


async def test_20_ms_is_one_frame_per_message() -> None:
    serializer = TwilioMediaStreamSerializer()
    await serializer.deserialize(tw.start())
    for i, ulaw in enumerate(frames_of(3)):
        frame = await serializer.deserialize(tw.media(i + 2, ulaw))
        assert isinstance(frame, InputAudioRawFrame) and frame.audio == g711.decode(ulaw)


@pytest.mark.parametrize("ms", [0, 10, 30, 50])
def test_frame_size_must_be_a_multiple_of_twilio_frames(ms: int) -> None:
    with pytest.raises(ValueError, match="inbound_frame_ms"):
        batching(ms)


async def test_the_hook_gets_each_message_s_mulaw_and_the_end_once() -> None:
    serializer = TwilioMediaStreamSerializer(stream_sid="MZ" + "0" * 32)
    sent: list[bytes] = []
    ends: list[int] = []

    async def on_media(ulaw: bytes) -> None:
        sent.append(ulaw)

    async def on_end() -> None:
        ends.append(1)

    serializer.set_listeners(on_media_sent=on_media, on_end=on_end)
    pcm = g711.decode(bytes(range(256)) * 5)
    message = await serializer.serialize(OutputAudioRawFrame(audio=pcm, sample_rate=8000, num_channels=1))
    assert isinstance(message, str)
    wire = tp.parse_outbound(message)
    assert isinstance(wire, tp.OutboundMedia) and sent == [wire.payload] == [g711.encode(pcm)]
    assert await serializer.serialize(EndFrame()) is None
    assert ends == [1]


def test_recommended_outbound_size_is_the_one_number() -> None:
    params = recommended_transport_params()
    assert params["audio_out_10ms_chunks"] == RECOMMENDED_OUT_10MS_CHUNKS == 10
    assert params["audio_in_enabled"] and params["audio_out_enabled"]
    # the benchmark's "default" stack runs with it unless told otherwise
    os.environ.pop("BENCH_OUT_CHUNKS", None)
    os.environ.pop("BENCH_IN_FRAME_MS", None)
    spec = importlib.util.spec_from_file_location("_bot_server", ROOT / "benchmarks" / "_bot_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.OUT_CHUNKS == RECOMMENDED_OUT_10MS_CHUNKS
    assert module.IN_FRAME_MS == RECOMMENDED_INBOUND_FRAME_MS == 40


@pytest.mark.parametrize("end", [EndFrame, CancelFrame])
async def test_a_partial_frame_left_when_the_socket_closes_without_stop_is_counted_and_named(
    end: type, logs: list[str]
) -> None:
    serializer = await started(params=TwilioMediaStreamSerializer.InputParams(inbound_frame_ms=40))
    assert await serializer.deserialize(tw.media(2, b"\x01" * 160)) is None  # 20 ms held for the 40 ms frame
    assert await serializer.serialize(end()) is None
    assert serializer.stats.unsent_tail_bytes == 160 and serializer.stats.stop_tail_bytes == 0
    assert (
        sum("160 B of the caller's last audio" in line and "without Twilio's stop" in line for line in logs)
        == 1
    )
    assert await serializer.serialize(end()) is None  # counted once
    assert serializer.stats.unsent_tail_bytes == 160


async def test_after_stop_the_tail_travels_on_and_nothing_is_counted_unsent() -> None:
    serializer = await started(params=TwilioMediaStreamSerializer.InputParams(inbound_frame_ms=40))
    assert await serializer.deserialize(tw.media(2, b"\x01" * 160)) is None
    stop = await serializer.deserialize(tw.stop(3))
    assert stop is not None and stop.tail_audio
    assert await serializer.serialize(EndFrame()) is None
    assert serializer.stats.unsent_tail_bytes == 0 and serializer.stats.stop_tail_bytes == 160
