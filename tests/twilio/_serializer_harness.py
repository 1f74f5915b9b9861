"""Helpers shared by the serializer's test files: a pipeline setup, a started serializer, frames, marks."""

from __future__ import annotations

import json
from typing import Any

from pipecat.clocks.system_clock import SystemClock
from pipecat.frames.frames import (
    OutputAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.utils.asyncio.task_manager import TaskManager

from pipecat_twilio_realtime import (
    TwilioMediaStreamSerializer,
    g711,
)

from .. import _twilio_helpers as tw


def pipeline_setup(rate_in: int = 8000, rate_out: int = 8000) -> FrameProcessorSetup:
    """What a pipeline gives a serializer at setup, at the given rates."""
    return FrameProcessorSetup(
        clock=SystemClock(),
        task_manager=TaskManager(),
        pipeline_worker=None,  # type: ignore[arg-type]
        audio_in_sample_rate=rate_in,
        audio_out_sample_rate=rate_out,
    )


async def started(**kwargs: Any) -> TwilioMediaStreamSerializer:
    """A serializer set up at 8000 Hz that has read Twilio's ``connected`` and ``start``."""
    serializer = TwilioMediaStreamSerializer(**kwargs)
    await serializer.setup(pipeline_setup())
    assert await serializer.deserialize(tw.connected()) is None
    assert await serializer.deserialize(tw.start()) is None
    return serializer


def pcm_frame(ulaw: bytes, rate: int = 8000) -> OutputAudioRawFrame:
    """An output frame whose PCM is exactly ``ulaw`` decoded."""
    return OutputAudioRawFrame(audio=g711.decode(ulaw), sample_rate=rate, num_channels=1)


Params = TwilioMediaStreamSerializer.InputParams
"""The serializer's parameters."""


async def sent_mark_name(serializer: TwilioMediaStreamSerializer, frame: Any) -> str:
    """The name of the ``mark`` message ``frame`` becomes."""
    message = json.loads(await serializer.serialize(frame))
    return str(message["mark"]["name"])
