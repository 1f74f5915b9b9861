"""``MediaStatsObserver(record=True)``: the recording and timeline go to ``on_recording``; no files left."""

from __future__ import annotations

import math
import wave
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, WebSocket

from pipecat_twilio_realtime import MediaStatsObserver, TwilioMediaStreamSerializer, g711
from pipecat_twilio_realtime.testing import Silence, SimulatedTwilioCaller, Speech, load_clip
from pipecat_twilio_realtime.testing.lag import LoopLag

from .._twilio_helpers import Loopback, run_call_pipeline, serve


async def test_on_recording_gets_the_wav_and_the_timeline(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    got: list[tuple[Path | None, dict[str, Any]]] = []
    summaries: list[dict[str, Any]] = []
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        serializer = TwilioMediaStreamSerializer()
        observer = MediaStatsObserver(
            serializer=serializer, params=MediaStatsObserver.InputParams(record=True)
        )

        @observer.event_handler("on_recording")
        async def on_recording(_observer: MediaStatsObserver, wav: Path | None, call: dict[str, Any]) -> None:
            got.append((wav, call))

        @observer.event_handler("on_call_summary")
        async def on_summary(_observer: MediaStatsObserver, summary: dict[str, Any]) -> None:
            summaries.append(summary)

        await run_call_pipeline(websocket, serializer, [Loopback()], observers=[observer])

    clip = load_clip("caller_question")
    async with serve(app) as port:
        script = [Silence(0.4), Speech(clip), Silence(0.6)]
        caller = SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script)
        with LoopLag() as lag:
            report = await caller.run()

    assert len(got) == 1
    wav, call = got[0]
    assert wav is not None and wav.suffix == ".wav" and wav.is_file()
    assert call["stream_sid"] == caller.stream_sid and call["timeline_html"] is None
    kinds = {e["kind"] for e in call["timeline"]["events"]}
    assert {"caller_speech", "bot_audio", "call_end"} <= kinds  # the loopback answers the caller
    assert summaries and summaries[0]["recording"]["wav"] == str(wav)
    assert not list(tmp_path.iterdir())  # noqa: ASYNC240 - no record_dir: nothing written here
    with wave.open(str(wav)) as f:
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate()) == (2, 2, 8000)
        samples = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16).reshape(-1, 2)
    # the bot may be heard for one frame after the caller's last one (its playout runs on until stop);
    # the recording runs on the call's clock, so each 20 ms the caller's own loop ran late it sent less,
    # and each gap the caller heard (a loopback frame late on a loaded machine) moved the rest of the
    # bot's audio later by as much, on the wire as in the recording
    late_frames = math.ceil(lag.max_ms / 20)
    slack = 160 * (1 + late_frames) + round(report.gap_ms * 8)
    assert 0 <= len(samples) - report.ulaw_bytes_sent <= slack, (lag.max_ms, report.gaps)
    assert not samples[report.ulaw_bytes_sent :, 0].any()
    spoken = np.frombuffer(g711.decode(clip), dtype=np.int16)
    assert np.array_equal(samples[20 * 160 : 20 * 160 + len(spoken), 0], spoken)  # after 0.4 s of silence
    assert np.count_nonzero(samples[:, 1]) > 0.8 * np.count_nonzero(spoken)  # the loopback, as heard
    wav.unlink()
