"""MediaStatsObserver driven frame by frame with a fake clock: fast, no pipeline, no real time.

``test_observer.py`` runs real calls; the tests built on this harness pin the counting and timing logic of
each frame kind, so ``scripts/mutation.py observe.observer`` can run them per mutant.
"""

from __future__ import annotations

from typing import Any

from pipecat.frames.frames import (
    EndFrame,
    Frame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
)
from pipecat.observers.base_observer import FramePushed
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import TransportParams

from pipecat_twilio_realtime import MediaStatsObserver, TwilioMediaStreamSerializer, g711

Params = MediaStatsObserver.InputParams

DOWN, UP = FrameDirection.DOWNSTREAM, FrameDirection.UPSTREAM
"""Short names for the two directions a frame is pushed in."""


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(
        self,
        serializer: TwilioMediaStreamSerializer | None = None,
        *,
        service: Any = None,
        clock: Clock | None = None,
        **params: Any,
    ) -> None:
        self.clock = clock or Clock()  # pass the serializer's clock to keep both on one time
        self.serializer = serializer
        self.observer = MediaStatsObserver(
            serializer=serializer, service=service, params=Params(**params), time_source=self.clock
        )
        self.output = BaseOutputTransport(TransportParams())
        self.other = FrameProcessor()
        self.summaries: list[dict[str, Any]] = []
        self.noise: list[Any] = []

        @self.observer.event_handler("on_call_summary")
        async def summary(_o: Any, data: dict[str, Any]) -> None:
            self.summaries.append(data)

        @self.observer.event_handler("on_noise_detected")
        async def noise(_o: Any, finding: Any) -> None:
            self.noise.append(finding)

    async def push(
        self,
        frame: Frame,
        direction: FrameDirection = DOWN,
        *,
        from_output: bool = False,
        first: bool = True,
        at: float | None = None,
    ) -> None:
        if at is not None:
            self.clock.now = at
        source = self.output if from_output else self.other
        await self.observer.on_push_frame(
            FramePushed(
                source=source,
                destination=self.other,
                frame=frame,
                direction=direction,
                timestamp=0,
                first_push=first,
            )
        )

    async def end(self, frame: Frame | None = None) -> None:
        """The call ends: the serializer sees End/Cancel (with one), or the worker cleans up (without)."""
        await self.push(frame or EndFrame(), from_output=True)  # ignored: the end comes from the wire
        if self.serializer is not None:
            await self.serializer.serialize(frame or EndFrame())
        else:
            await self.observer.cleanup()
        import asyncio

        for _ in range(5):  # event handlers run as tasks: let them finish
            await asyncio.sleep(0)


def out_audio(ulaw: bytes) -> OutputAudioRawFrame:
    return OutputAudioRawFrame(audio=g711.decode(ulaw), sample_rate=8000, num_channels=1)


def in_audio(level: int, n: int = 160) -> InputAudioRawFrame:
    pcm = int(level).to_bytes(2, "little", signed=True) * n
    return InputAudioRawFrame(audio=pcm, sample_rate=8000, num_channels=1)
