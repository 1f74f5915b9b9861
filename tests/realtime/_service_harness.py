"""The μ-law Realtime service with a fake OpenAI socket, driven by SDK-parsed events: no server, no clock.

The real-time calls in ``test_service.py`` prove the whole path; the hook tests built on this harness pin
the logic of each hook (what goes on the wire to OpenAI, which frames are pushed, which counters move) in a
fraction of a second each, so ``scripts/mutation.py realtime.service`` can run them per mutant.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.openai.realtime import events
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService
from websockets.protocol import State

from pipecat_twilio_realtime import (
    OpenAIRealtimeMuLawLLMService,
    g711,
)
from pipecat_twilio_realtime.realtime.playback import PlaybackTracker

SPEECHLESS = bytes([0xFF]) * 160  # μ-law silence: passes the reply guard


class FakeSocket:
    """The OpenAI websocket as the service writes to it."""

    def __init__(self) -> None:
        self.state = State.OPEN
        self.sent: list[dict[str, Any]] = []

    async def send(self, text: str) -> None:
        message = json.loads(text)
        message.pop("event_id", None)  # a fresh UUID per event
        self.sent.append(message)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("type") == kind]


class Harness:
    """A service with a fake socket, recording every frame it pushes past its own ``push_frame``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> None:
        self.frames: list[tuple[Frame, FrameDirection]] = []

        async def record(
            _self: Any, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM
        ) -> None:
            self.frames.append((frame, direction))

        monkeypatch.setattr(OpenAIRealtimeLLMService, "push_frame", record)
        self.service = OpenAIRealtimeMuLawLLMService(api_key="sk-test", reply_guard=False, **kwargs)
        self.socket = FakeSocket()
        self.service._websocket = self.socket  # type: ignore[assignment]
        self.now = 0.0  # the playback tracker's clock: moved by the tests, never by the machine
        self.service._playback = PlaybackTracker(clock=lambda: self.now)
        self.spawned: list[str] = []  # background work (the fallback, a reconnect), recorded, not run

        def spawn(coroutine: Any) -> None:
            self.spawned.append(coroutine.__qualname__)
            coroutine.close()

        self.service._spawn = spawn  # type: ignore[method-assign]

    def pushed(self, kind: type, direction: FrameDirection | None = None) -> list[Any]:
        return [f for f, d in self.frames if isinstance(f, kind) and (direction is None or d is direction)]

    def appended(self) -> bytes:
        return b"".join(
            base64.b64decode(m["audio"]) for m in self.socket.of_type("input_audio_buffer.append")
        )


def session_updated(fmt_in: str = "audio/pcmu", fmt_out: str = "audio/pcmu") -> Any:
    return events.parse_server_event(
        json.dumps(
            {
                "type": "session.updated",
                "event_id": "evt_1",
                "session": {
                    "audio": {
                        "input": {
                            "format": {"type": fmt_in, **({"rate": 24000} if fmt_in == "audio/pcm" else {})}
                        },
                        "output": {
                            "format": {"type": fmt_out, **({"rate": 24000} if fmt_out == "audio/pcm" else {})}
                        },
                    }
                },
            }
        )
    )


def delta(item: str, ulaw: bytes, response: str = "resp_1") -> Any:
    return events.parse_server_event(
        json.dumps(
            {
                "type": "response.output_audio.delta",
                "event_id": "evt",
                "response_id": response,
                "item_id": item,
                "output_index": 0,
                "content_index": 0,
                "delta": base64.b64encode(ulaw).decode(),
            }
        )
    )


def caller(pcm_ulaw: bytes, rate: int = 8000, channels: int = 1) -> InputAudioRawFrame:
    return InputAudioRawFrame(audio=g711.decode(pcm_ulaw), sample_rate=rate, num_channels=channels)
