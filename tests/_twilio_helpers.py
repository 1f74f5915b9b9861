"""Shared helpers for tests that play Twilio: literal messages and a loopback uvicorn server."""

from __future__ import annotations

import asyncio
import base64
import json
import wave
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pipecat.frames.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from pipecat_twilio_realtime import MediaStatsObserver
from pipecat_twilio_realtime.testing import CallerReport, serve_app

STREAM_SID = "MZ00000000000000000000000000000001"
CALL_SID = "CA00000000000000000000000000000001"
ACCOUNT_SID = "AC00000000000000000000000000000001"


def write_pcm_wav(path: Path, pcm16: bytes, *, rate: int = 8000, channels: int = 1) -> Path:
    """Write ``pcm16`` as a 16-bit PCM WAV (any rate and channel count, to test what is refused)."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm16)
    return path


def connected() -> str:
    return json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})


def start(seq: int = 1, **custom: str) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": str(seq),
            "streamSid": STREAM_SID,
            "start": {
                "accountSid": ACCOUNT_SID,
                "streamSid": STREAM_SID,
                "callSid": CALL_SID,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": custom,
            },
        }
    )


def media(seq: int, ulaw: bytes, chunk: int = 1) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(seq),
            "streamSid": STREAM_SID,
            "media": {
                "track": "inbound",
                "chunk": str(chunk),
                "timestamp": str((chunk - 1) * 20),
                "payload": base64.b64encode(ulaw).decode(),
            },
        }
    )


def mark(seq: int, name: str) -> str:
    return json.dumps(
        {"event": "mark", "sequenceNumber": str(seq), "streamSid": STREAM_SID, "mark": {"name": name}}
    )


def dtmf(seq: int, digit: str) -> str:
    return json.dumps(
        {
            "event": "dtmf",
            "sequenceNumber": str(seq),
            "streamSid": STREAM_SID,
            "dtmf": {"track": "inbound_track", "digit": digit},
        }
    )


def stop(seq: int) -> str:
    return json.dumps(
        {
            "event": "stop",
            "sequenceNumber": str(seq),
            "streamSid": STREAM_SID,
            "stop": {"accountSid": ACCOUNT_SID, "callSid": CALL_SID},
        }
    )


serve = serve_app  # the package's own helper: a uvicorn server on 127.0.0.1 for one test


async def run_call_pipeline(
    websocket: Any,
    serializer: Any,
    processors: list[Any],
    *,
    after_output: list[Any] | None = None,
    observers: list[Any] | None = None,
    on_connected: list[Any] | None = None,
    cancel_on_disconnect: bool = True,
    speed: float = 1.0,
    send_ahead_ms: float | None = None,
) -> None:
    """Run one call: ``transport.input() → processors → transport.output() → after_output`` at 8 kHz.

    The pipeline ends when the call does (Twilio ``stop``, the bot ending it, or the socket going away).
    With ``cancel_on_disconnect=False`` nothing cancels it when the socket closes: only the pipeline
    itself (e.g. Twilio's ``stop``) can end it, so a test that relies on that hangs if it does not.
    ``speed`` > 1 paces the bot's audio out that many times faster than real time (see
    :func:`pace_output`), for a caller built with the same ``speed``. ``send_ahead_ms`` runs the call on
    :class:`~pipecat_twilio_realtime.SendAheadWebsocketTransport` with that lead and 100 ms messages, as the
    example bot does (``None``: Pipecat's transport, 20 ms messages).
    """
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
    from pipecat.workers.runner import WorkerRunner

    if send_ahead_ms is None:
        transport: Any = FastAPIWebsocketTransport(
            websocket,
            FastAPIWebsocketParams(
                audio_in_enabled=True, audio_out_enabled=True, audio_out_10ms_chunks=2, serializer=serializer
            ),
        )
    else:
        from pipecat_twilio_realtime import SendAheadWebsocketTransport

        transport = SendAheadWebsocketTransport(
            websocket,
            FastAPIWebsocketParams(
                audio_in_enabled=True, audio_out_enabled=True, audio_out_10ms_chunks=10, serializer=serializer
            ),
            send_ahead_ms=send_ahead_ms,
        )
    if speed != 1.0:
        pace_output(transport.output(), speed)
    worker = PipelineWorker(
        Pipeline([transport.input(), *processors, transport.output(), *(after_output or [])]),
        params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
        observers=observers or [],
    )

    if on_connected:

        @transport.event_handler("on_client_connected")
        async def connected(*_: Any) -> None:
            await worker.queue_frames(on_connected)

    if cancel_on_disconnect:

        @transport.event_handler("on_client_disconnected")
        async def gone(*_: Any) -> None:
            await worker.cancel()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()


def pace_output(output: Any, speed: float) -> None:
    """Make a websocket output transport send its audio ``speed`` times faster than real time.

    Pipecat's ``FastAPIWebsocketOutputTransport`` sleeps ``_send_interval`` (set in ``setup()``) between
    chunks to play like a sound card; dividing it runs the bot on the simulated caller's scaled time
    (``SimulatedTwilioCaller(speed=...)``). Chunking, padding and every byte stay as they are.
    """
    if speed <= 0:
        raise ValueError(f"speed must be positive, got {speed!r}")
    original_setup = output.setup

    async def setup(frame_setup: Any) -> None:
        await original_setup(frame_setup)
        # A Pipecat that renames it must fail here, not silently pace at real time.
        interval = output.__dict__["_send_interval"]
        output._send_interval = interval / speed

    output.setup = setup


class Loopback(FrameProcessor):
    """Plays caller audio straight back to the caller: ``InputAudioRawFrame`` → ``OutputAudioRawFrame``."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Turn caller audio into bot audio; pass every other frame on."""
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            await self.push_frame(
                OutputAudioRawFrame(audio=frame.audio, sample_rate=frame.sample_rate, num_channels=1)
            )
        else:
            await self.push_frame(frame, direction)


TOKEN = "test-token-not-a-secret"


def fake_twilio_rest(posts: list[dict[str, Any]], status: int = 200) -> FastAPI:
    """Imitates Twilio's ``POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json``."""
    app = FastAPI()

    @app.post("/2010-04-01/Accounts/{account}/Calls/{call}.json")
    async def update_call(account: str, call: str, request: Request) -> JSONResponse:
        form = await request.form()
        posts.append(
            {
                "account": account,
                "call": call,
                "form": dict(form),
                "auth": request.headers.get("authorization", ""),
            }
        )
        if status == 404:
            return JSONResponse(
                {"code": 20404, "message": "The requested resource was not found", "status": 404},
                status_code=404,
            )
        return JSONResponse(
            {
                "sid": call,
                "account_sid": account,
                "status": "completed",
                "uri": f"/2010-04-01/Accounts/{account}/Calls/{call}.json",
            }
        )

    return app


def sdk_client(port: int) -> Client:
    """A real ``twilio.rest.Client`` with its async HTTP client, pointed at our loopback server."""
    client = Client(ACCOUNT_SID, TOKEN, http_client=AsyncTwilioHttpClient())
    client.api.base_url = f"http://127.0.0.1:{port}"  # Domain.absolute_url() joins base_url and the path
    return client


async def wait_for_every_echo(observer: MediaStatsObserver, report: CallerReport, timeout_s: float) -> int:
    """Wait until ``observer`` has counted each mark echo of ``report`` and a barge-in; return the echoes.

    The bot reads the caller's last messages after the caller has hung up. A mark whose echo crosses the
    clear on its way (the clear's own mark always can: it marks no audio) was played at the caller but
    counts as flushed at the bot, which had sent the clear: so every echo is awaited however it is counted;
    the bot may call flushed what the caller played, not the reverse.
    """
    echoes = len(report.marks_played) + len(report.marks_flushed)
    async with asyncio.timeout(timeout_s):
        while (
            observer.stats.marks_played + observer.stats.marks_flushed < echoes
            or not observer.stats.barge_ins
        ):
            await asyncio.sleep(0.05)
    return echoes
