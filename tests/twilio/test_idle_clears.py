"""A ``clear`` sent while nothing is queued at Twilio is counted apart: it is not a barge-in."""

from __future__ import annotations

from pipecat.clocks.system_clock import SystemClock
from pipecat.frames.frames import InterruptionFrame, OutputAudioRawFrame
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.utils.asyncio.task_manager import TaskManager

from pipecat_twilio_realtime import TwilioMediaStreamSerializer, g711

from .. import _twilio_helpers as tw


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _started(clock: _Clock) -> TwilioMediaStreamSerializer:
    serializer = TwilioMediaStreamSerializer(clock=clock)
    await serializer.setup(
        FrameProcessorSetup(
            clock=SystemClock(),
            task_manager=TaskManager(),
            pipeline_worker=None,  # type: ignore[arg-type]
            audio_in_sample_rate=8000,
            audio_out_sample_rate=8000,
        )
    )
    await serializer.deserialize(tw.connected())
    await serializer.deserialize(tw.start())
    return serializer


def _audio(ms: int) -> OutputAudioRawFrame:
    return OutputAudioRawFrame(audio=g711.decode(b"\x20" * (8 * ms)), sample_rate=8000, num_channels=1)


async def test_a_clear_with_nothing_sent_is_idle() -> None:
    serializer = await _started(_Clock())
    assert await serializer.serialize(InterruptionFrame()) is not None  # still sent: harmless, and safe
    assert (serializer.stats.clears_sent, serializer.stats.clears_idle) == (1, 1)


async def test_a_clear_while_sent_audio_is_still_playing_is_not_idle_and_one_after_it_played_is() -> None:
    clock = _Clock()
    serializer = await _started(clock)
    await serializer.serialize(_audio(500))
    clock.now += 0.3  # 200 ms of it still queued at Twilio
    await serializer.serialize(InterruptionFrame())
    assert (serializer.stats.clears_sent, serializer.stats.clears_idle) == (1, 0)
    await serializer.serialize(_audio(200))
    clock.now += 0.25  # all played
    await serializer.serialize(InterruptionFrame())
    assert (serializer.stats.clears_sent, serializer.stats.clears_idle) == (2, 1)
