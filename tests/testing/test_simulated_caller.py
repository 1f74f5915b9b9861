"""SimulatedTwilioCaller: strict outbound checks, WAV input, and real calls through a Pipecat loopback.

The Pipecat calls run a real FastAPI app under uvicorn on 127.0.0.1 whose ``/ws`` runs
``FastAPIWebsocketTransport(TwilioMediaStreamSerializer)`` → loopback → output, so every byte the
caller says comes back to it through the real transport, serializer and pacing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, WebSocket
from pipecat.frames.frames import Frame, InputAudioRawFrame, InputDTMFFrame, OutputAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipecat_twilio_realtime import (
    TwilioMarkEchoFrame,
    TwilioMarkRequestFrame,
    TwilioMediaStreamSerializer,
)
from pipecat_twilio_realtime.testing import (
    Dtmf,
    Silence,
    SimulatedTwilioCaller,
    Speech,
    load_wav_as_ulaw,
)
from pipecat_twilio_realtime.testing.twilio import check_outbound
from pipecat_twilio_realtime.twilio import protocol as tp

from .._twilio_helpers import run_call_pipeline, serve, write_pcm_wav

CALL_TIMEOUT_S = 20

# ---------------------------------------------------------------------------------------------
# Fixtures: a loopback uvicorn server and a Pipecat loopback bot.


@dataclass
class BotSide:
    """What the loopback bot saw."""

    echoes: list[TwilioMarkEchoFrame] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    frames_in: int = 0


class Loopback(FrameProcessor):
    """Says back every caller frame; sends marks and interrupts after given numbers of caller frames."""

    def __init__(self, side: BotSide, marks: dict[int, str], interrupt_at: int | None) -> None:
        super().__init__()
        self._side = side
        self._marks = marks
        self._interrupt_at = interrupt_at

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self._side.frames_in += 1
            await self.push_frame(OutputAudioRawFrame(frame.audio, frame.sample_rate, frame.num_channels))
            if self._side.frames_in in self._marks:
                await self.push_frame(TwilioMarkRequestFrame(label=self._marks[self._side.frames_in]))
            if self._side.frames_in == self._interrupt_at:
                await self.broadcast_interruption()  # → InterruptionFrame → the serializer's `clear`
        elif isinstance(frame, TwilioMarkEchoFrame):
            self._side.echoes.append(frame)
        elif isinstance(frame, InputDTMFFrame):
            self._side.digits.append(frame.button.value)
        else:
            await self.push_frame(frame, direction)


def loopback_bot(
    sides: list[BotSide], marks: dict[int, str] | None = None, interrupt_at: int | None = None
) -> FastAPI:
    """A FastAPI app whose /ws runs transport.input() → Loopback → transport.output() at 8 kHz."""
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        side = BotSide()
        sides.append(side)
        await run_call_pipeline(
            websocket, TwilioMediaStreamSerializer(), [Loopback(side, marks or {}, interrupt_at)]
        )

    return app


def ramp(first: int, count: int) -> bytes:
    """``count`` 20 ms frames, frame ``i`` filled with one byte naming it (never 0x7F or 0xFF)."""
    return b"".join(bytes([1 + (i % 120)]) * 160 for i in range(first, first + count))


def as_twilio_returns(ulaw: bytes) -> bytes:
    """μ-law → PCM16 → μ-law is exact except 0x7F (negative zero), which comes back as 0xFF."""
    return ulaw.replace(b"\x7f", b"\xff")


def mark_position(name: str) -> int:
    """μ-law bytes the serializer had sent before the mark (its names are ``label:index:sent``)."""
    return int(name.rsplit(":", 1)[1])


# ---------------------------------------------------------------------------------------------
# Through a real Pipecat pipeline.


async def test_caller_hears_exactly_the_bytes_it_said_and_dtmf_reaches_the_bot() -> None:
    speech = bytes(random.Random(5).randrange(256) for _ in range(8000))  # 1 s, all 256 codes
    sides: list[BotSide] = []
    async with serve(loopback_bot(sides)) as port:
        caller = SimulatedTwilioCaller(
            f"ws://127.0.0.1:{port}/ws", [Silence(0.2), Speech(speech), Dtmf("5#"), Silence(0.6)]
        )
        report = await asyncio.wait_for(caller.run(), CALL_TIMEOUT_S)

    said = b"\xff" * 1600 + speech + b"\xff" * (320 + 4800)
    assert report.violations == [] and not report.bot_closed_first
    assert report.ulaw_bytes_sent == len(said) and report.media_sent == len(said) // 160
    heard = bytes(report.heard)
    assert len(heard) >= 1600 + len(speech), "the whole of the speech came back and was played"
    common = min(len(heard), len(said))
    assert heard[:common] == as_twilio_returns(said)[:common]
    assert set(heard[common:]) <= {0xFF}  # only the transport's end-of-call silence may follow
    assert bytes(report.received_audio).startswith(heard) and report.flushed_bytes == 0
    assert report.ulaw_bytes_received == len(report.received_audio)
    assert sides[0].digits == ["5", "#"] and report.dtmf_sent == ["5", "#"]
    assert [what for _, what in report.events][-1] == "stop"


async def test_mark_is_echoed_only_after_the_audio_before_it_played() -> None:
    sides: list[BotSide] = []
    async with serve(loopback_bot(sides, marks={25: "half-second"})) as port:
        caller = SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", [Speech(ramp(0, 50))], linger_s=0.4)
        report = await asyncio.wait_for(caller.run(), CALL_TIMEOUT_S)

    assert report.violations == [] and report.clears == 0
    assert len(report.marks) == 1 and report.marks_flushed == []
    echo = report.marks[0]
    assert echo.played and echo.name == report.marks_played[0]
    before = mark_position(echo.name)
    assert before >= 25 * 160  # the serializer stamped the audio it had sent before the mark
    assert echo.heard_bytes >= before, "the caller played every byte queued before the mark first"
    assert sides[0].echoes and sides[0].echoes[0].label == "half-second" and sides[0].echoes[0].played


async def test_clear_flushes_queued_audio_and_echoes_pending_marks_at_once() -> None:
    sides: list[BotSide] = []
    app = loopback_bot(sides, marks={5: "before", 45: "after"}, interrupt_at=20)
    async with serve(app) as port:
        # A 1 s jitter buffer keeps the bot's audio queued when the bot interrupts itself at 0.4 s.
        caller = SimulatedTwilioCaller(
            f"ws://127.0.0.1:{port}/ws",
            [Speech(ramp(0, 15), "hello"), Speech(ramp(15, 65), "talks over the bot")],
            playout_delay_s=1.0,
            linger_s=1.0,
        )
        report = await asyncio.wait_for(caller.run(), CALL_TIMEOUT_S)

    assert report.violations == [] and report.clears == 1
    assert report.heard_at_clears == [0], "nothing had played yet: all queued audio was flushed"
    assert report.flushed_bytes >= 5 * 160
    first, *rest = report.marks
    assert (first.name.startswith("before:"), first.played, first.heard_bytes) == (True, False, 0)
    assert report.marks_flushed == [first.name]
    assert len(rest) == 1 and rest[0].played and rest[0].name.startswith("after:")
    assert rest[0].heard_bytes >= mark_position(rest[0].name) - report.flushed_bytes
    heard = bytes(report.heard)
    assert heard and not set(heard) & set(ramp(0, 6)), "none of the audio before the first mark was heard"
    # What was heard is the caller's own later speech, in order, with no gap.
    start = heard[0] - 1
    assert heard[: len(heard) - len(heard) % 160] == ramp(start, len(heard) // 160)
    assert report.barge_in_latencies_s and report.barge_in_latencies_s[0] > 0
    assert [(e.label, e.played) for e in sides[0].echoes] == [("before", False), ("after", True)]


# ---------------------------------------------------------------------------------------------
# Against a raw websocket bot: Twilio's message shapes, and a bot that breaks the protocol.


def raw_bot(log: list[dict[str, Any]], bad: list[str]) -> FastAPI:
    """Logs what the caller sends; answers ``start`` with one valid media, then ``bad``, then closes."""
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            message = json.loads(await websocket.receive_text())
            log.append(message)
            if message["event"] == "media" and int(message["media"]["chunk"]) == 5:
                sid = message["streamSid"]
                await websocket.send_text(tp.build_media(sid, b"\x11" * 160))
                for text in bad:
                    await websocket.send_text(text.replace("SID", sid))
                await websocket.close()
                return

    return app


async def test_bad_bot_messages_are_violations_and_the_bot_may_close_first() -> None:
    bad = [
        '{"event": "media", "streamSid": "SID", "media": {"payload": "EQ=="}, "type": "x"}',
        '{"event": "media", "streamSid": "MZother", "media": {"payload": "EQ=="}}',
        '{"event": "mark", "streamSid": "SID", "mark": {"name": "m", "extra": 1}}',
        '{"event": "stop", "streamSid": "SID"}',
    ]
    log: list[dict[str, Any]] = []
    async with serve(raw_bot(log, bad)) as port:
        caller = SimulatedTwilioCaller(
            f"ws://127.0.0.1:{port}/ws",
            [Silence(0.06, noise_dbfs=-60.0), Silence(10.0)],
            custom_parameters={"caller": "+15550000000"},
        )
        report = await asyncio.wait_for(caller.run(), CALL_TIMEOUT_S)

    assert report.bot_closed_first and report.media_received == 1
    assert len(report.violations) == 4, report.violations
    assert "keys" in report.violations[0] and "type" in report.violations[0]
    assert "not this stream" in report.violations[1]
    assert "mark" in report.violations[2] and "unknown event 'stop'" in report.violations[3]
    assert report.messages_received == 5
    # The caller's side looks exactly like Twilio's.
    assert log[0] == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    start = log[1]
    assert start["event"] == "start" and start["streamSid"].startswith("MZ")
    assert start["start"]["accountSid"].startswith("AC") and start["start"]["callSid"].startswith("CA")
    assert start["start"]["tracks"] == ["inbound"] and start["start"]["customParameters"] == {
        "caller": "+15550000000"
    }
    assert start["start"]["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    assert [m["sequenceNumber"] for m in log[1:]] == [str(n) for n in range(1, len(log))]
    media = log[2:]
    assert [m["media"]["chunk"] for m in media] == [str(n) for n in range(1, 6)]
    assert [m["media"]["timestamp"] for m in media] == [str(20 * n) for n in range(5)]
    for message in log:
        assert isinstance(tp.parse_message(json.dumps(message)), tp.InboundEvent)
    noise = base64.b64decode(media[0]["media"]["payload"])
    assert len(noise) == 160 and set(noise) != {0xFF}  # line noise, not digital silence
    levels = [abs(s) for s in memoryview(_decode(noise)).cast("h")]
    assert max(levels) < 400  # -60 dBFS RMS is ~33; a few sigma stays far below speech


def listening_bot(log: list[dict[str, Any]]) -> FastAPI:
    """Logs what the caller sends until ``stop``."""
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        while not log or log[-1]["event"] != "stop":
            log.append(json.loads(await websocket.receive_text()))

    return app


async def test_dtmf_on_request_and_hang_up_end_the_call_like_twilio() -> None:
    log: list[dict[str, Any]] = []
    async with serve(listening_bot(log)) as port:
        caller = SimulatedTwilioCaller(
            f"ws://127.0.0.1:{port}/ws", [Silence(10.0)], call_sid="CA42", account_sid="AC42"
        )
        call = asyncio.create_task(caller.run())
        async with asyncio.timeout(CALL_TIMEOUT_S):
            while caller.report.media_sent < 3:
                await asyncio.sleep(0.01)
            await caller.send_dtmf("7")
            caller.hang_up()
            report = await call

    assert not report.bot_closed_first and report.dtmf_sent == ["7"]
    assert report.media_sent < 50, "hang_up ended the 10 s script early"
    dtmf = [m for m in log if m["event"] == "dtmf"]
    assert dtmf == [
        {
            "event": "dtmf",
            "sequenceNumber": dtmf[0]["sequenceNumber"],
            "streamSid": caller.stream_sid,
            "dtmf": {"track": "inbound_track", "digit": "7"},
        }
    ]
    assert log[-1] == {
        "event": "stop",
        "sequenceNumber": str(len(log) - 1),
        "streamSid": caller.stream_sid,
        "stop": {"accountSid": "AC42", "callSid": "CA42"},
    }
    assert report.messages_sent == len(log)


def _decode(ulaw: bytes) -> bytes:
    from pipecat_twilio_realtime import g711

    return g711.decode(ulaw)


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
        '{"event": "media", "streamSid": "MZ1", "media": {"payload": 5}}': "not a string",
        '{"event": "mark", "streamSid": "MZ1", "mark": {"name": 5}}': "not a string",
        '{"event": "clear", "streamSid": "MZ1", "clear": {}}': "keys",
        '{"event": "dance", "streamSid": "MZ1"}': "unknown event",
        "[1]": "not a JSON object",
        "nope": "not JSON",
    }
    for message, reason in bad.items():
        result = check_outbound(message, "MZ1")
        assert isinstance(result, str) and reason in result, (message, result)
    assert "binary" in str(check_outbound(b"\x00", "MZ1"))


# ---------------------------------------------------------------------------------------------
# WAV input: 8000 Hz mono only, never resampled.


def _ulaw_wav(path: Path, rate: int, data: bytes) -> Path:
    fmt = (7).to_bytes(2, "little") + (1).to_bytes(2, "little") + rate.to_bytes(4, "little")
    fmt += rate.to_bytes(4, "little") + (1).to_bytes(2, "little") + (8).to_bytes(2, "little")
    fmt += (0).to_bytes(2, "little")  # cbSize: non-PCM fmt chunks are 18 bytes
    fact = b"fact" + (4).to_bytes(4, "little") + len(data).to_bytes(4, "little")
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt + fact
    body += b"data" + len(data).to_bytes(4, "little") + data + b"\x00" * (len(data) & 1)
    path.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    return path


def test_wav_input_is_read_without_resampling(tmp_path: Path) -> None:
    pcm = b"".join(s.to_bytes(2, "little", signed=True) for s in (0, 1000, -1000, 32000) * 20)
    assert load_wav_as_ulaw(write_pcm_wav(tmp_path / "pcm.wav", pcm)) == _encode(pcm)
    ulaw = bytes(range(256)) + b"\x01"  # odd length: the data chunk is padded
    assert load_wav_as_ulaw(_ulaw_wav(tmp_path / "ulaw.wav", 8000, ulaw)) == ulaw
    assert Speech.from_wav(tmp_path / "ulaw.wav") == Speech(ulaw, "ulaw.wav")
    caller = SimulatedTwilioCaller("ws://127.0.0.1:1/ws", [tmp_path / "ulaw.wav"])
    assert caller.script == [Speech(ulaw, "ulaw.wav")]


def test_wav_at_another_rate_or_layout_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"16000 Hz.*needs 8000 Hz mono.*never resamples"):
        load_wav_as_ulaw(write_pcm_wav(tmp_path / "wide.wav", b"\x00\x00" * 80, rate=16000))
    with pytest.raises(ValueError, match="16000 Hz"):
        SimulatedTwilioCaller("ws://127.0.0.1:1/ws", [_ulaw_wav(tmp_path / "wide-ulaw.wav", 16000, b"\xff")])
    with pytest.raises(ValueError, match="2 channel"):
        load_wav_as_ulaw(write_pcm_wav(tmp_path / "stereo.wav", b"\x00\x00" * 80, channels=2))
    (tmp_path / "text.wav").write_bytes(b"hello, not a wav file")
    with pytest.raises(ValueError, match="not a WAV"):
        load_wav_as_ulaw(tmp_path / "text.wav")


def test_dtmf_segment_rejects_keys_twilio_never_sends() -> None:
    assert Dtmf("0123456789*#").digits == "0123456789*#"
    for digits in ("", "A", "1x"):
        with pytest.raises(ValueError, match="DTMF"):
            Dtmf(digits)


def _encode(pcm: bytes) -> bytes:
    from pipecat_twilio_realtime import g711

    return g711.encode(pcm)
