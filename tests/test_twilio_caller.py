"""SimulatedTwilioCaller against a scripted raw websocket bot: strict checks, marks, clear."""

from __future__ import annotations

import asyncio
import base64
import json
import wave
from pathlib import Path

import pytest
from fastapi import FastAPI, WebSocket

from pipecat_twilio_realtime import twilio_protocol as tp
from pipecat_twilio_realtime.testing import Silence, SimulatedTwilioCaller, Speech, load_wav_as_ulaw
from pipecat_twilio_realtime.testing.twilio_caller import check_outbound

from ._twilio_helpers import serve


def test_check_outbound_accepts_only_the_documented_shapes() -> None:
    assert check_outbound(tp.build_media("MZ1", b"\x01\x02"), "MZ1") == ("media", b"\x01\x02")
    assert check_outbound(tp.build_mark("MZ1", "m"), "MZ1") == ("mark", "m")
    assert check_outbound(tp.build_clear("MZ1"), "MZ1") == ("clear", None)
    bad = {
        '{"event": "media", "streamSid": "MZ1", "media": {"payload": "AA=="}, "type": "x"}': "keys",
        '{"event": "media", "streamSid": "MZ1", "payload": "AA=="}': "keys",
        '{"event": "media", "streamSid": "MZ1", "media": {"payload": "AA==", "track": "x"}}': "exactly",
        '{"event": "media", "streamSid": "MZ2", "media": {"payload": "AA=="}}': "not this stream",
        '{"event": "media", "streamSid": "MZ1", "media": {"payload": "%%"}}': "base64",
        '{"event": "dance", "streamSid": "MZ1"}': "unknown event",
        "nope": "not JSON",
    }
    for message, reason in bad.items():
        result = check_outbound(message, "MZ1")
        assert isinstance(result, str) and reason in result, (message, result)
    assert "binary" in str(check_outbound(b"\x00", "MZ1"))


def _wav(path: Path, rate: int, data: bytes) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(data)
    return path


def test_wav_input_must_be_8000_hz(tmp_path: Path) -> None:
    assert load_wav_as_ulaw(_wav(tmp_path / "ok.wav", 8000, b"\x00\x00" * 80)) == b"\xff" * 80
    with pytest.raises(ValueError, match="16000 Hz"):
        load_wav_as_ulaw(_wav(tmp_path / "wide.wav", 16000, b"\x00\x00" * 80))


def scripted_bot(log: list[dict]) -> FastAPI:
    """Sends 1 s of audio, a mark, 1 s more, a second mark, then a clear 0.3 s later; logs what it gets."""
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        sid = ""

        async def reader() -> None:
            nonlocal sid
            while True:
                message = json.loads(await websocket.receive_text())
                log.append(message)
                if message["event"] == "start":
                    sid = message["streamSid"]

        task = asyncio.create_task(reader())
        while not sid:
            await asyncio.sleep(0.01)
        await websocket.send_text(tp.build_media(sid, b"\x11" * 8000))
        await websocket.send_text(tp.build_mark(sid, "first"))
        await websocket.send_text(tp.build_media(sid, b"\x22" * 8000))
        await websocket.send_text(tp.build_mark(sid, "second"))
        await asyncio.sleep(1.3)
        await websocket.send_text(tp.build_clear(sid))
        await websocket.send_text(
            json.dumps({"event": "media", "streamSid": sid, "media": {"payload": "AA=="}, "x": 1})
        )
        try:
            await asyncio.wait_for(task, 5)
        except Exception:
            pass

    return app


async def test_marks_echo_after_playback_and_clear_flushes() -> None:
    log: list[dict] = []
    async with serve(scripted_bot(log)) as port:
        caller = SimulatedTwilioCaller(
            f"ws://127.0.0.1:{port}/ws",
            [Speech(b"\x33" * 800, "hello"), Silence(1.4)],
            custom_parameters={"a": "b"},
        )
        report = await asyncio.wait_for(caller.run(), 20)
    assert report.marks_played == ["first"] and report.marks_flushed == ["second"]
    assert report.clears == 1
    heard_at_clear = report.heard_at_clears[0]
    assert 8000 <= heard_at_clear < 16000  # the first second played, the second only partly
    assert bytes(report.heard[:8000]) == b"\x11" * 8000
    assert report.flushed_bytes == 16000 - heard_at_clear
    assert len(report.violations) == 1 and "keys" in report.violations[0]
    # what the caller sent looks like Twilio: sequence numbers count every message, start carries params
    events = [m["event"] for m in log]
    assert events[:2] == ["connected", "start"] and events[-1] == "stop"
    assert log[1]["start"]["customParameters"] == {"a": "b"}
    numbers = [int(m["sequenceNumber"]) for m in log[1:]]
    assert numbers == list(range(1, len(numbers) + 1))
    media = [m for m in log if m["event"] == "media"]
    assert base64.b64decode(media[0]["media"]["payload"]) == b"\x33" * 160
    assert [m["mark"]["name"] for m in log if m["event"] == "mark"] == ["first", "second"]
    for message in log[1:]:
        tp.parse_message(json.dumps(message))  # our own parser accepts every message it sent
