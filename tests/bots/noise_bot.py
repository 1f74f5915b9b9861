"""A broken bot for the simulator's tests: it answers with PCM16 speech put on the wire as μ-law.

It has the simulator's bot interface (``load_settings(env)``, ``create_app(settings)``) and the same
pipeline shape as the example bot, with the classic mistake in place of the Realtime service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, WebSocket
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipecat_twilio_realtime import MediaStatsObserver, TwilioMediaStreamSerializer, g711
from pipecat_twilio_realtime.testing import load_clip
from tests._twilio_helpers import run_call_pipeline


class PcmAsMuLaw(FrameProcessor):
    """Replies to the caller's first audio with speech whose wire bytes are PCM16, not μ-law."""

    def __init__(self) -> None:
        super().__init__()
        self._done = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame) and not self._done:
            self._done = True
            pcm16 = g711.decode(load_clip("bot_answer"))[:24000]
            wire_as_pcm = g711.decode(pcm16)  # encodes back to the PCM16 bytes themselves
            await self.push_frame(TTSStartedFrame())
            for i in range(0, len(wire_as_pcm), 3200):
                await self.push_frame(
                    TTSAudioRawFrame(audio=wire_as_pcm[i : i + 3200], sample_rate=8000, num_channels=1)
                )
            await self.push_frame(TTSStoppedFrame())


def load_settings(env: Mapping[str, str]) -> dict[str, str]:
    return dict(env)


def create_app(settings: Any) -> FastAPI:
    app = FastAPI()
    app.state.call_summaries = []

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        serializer = TwilioMediaStreamSerializer()
        observer = MediaStatsObserver(serializer=serializer)

        @observer.event_handler("on_call_summary")
        async def summary(_observer: Any, data: dict[str, Any]) -> None:
            app.state.call_summaries.append(data)

        await run_call_pipeline(websocket, serializer, [PcmAsMuLaw()], observers=[observer])

    return app
