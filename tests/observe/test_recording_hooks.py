"""The observer's recording hooks without a call: ``on_recording``, the summary's ``recording`` entry, the
files in ``record_dir`` and the pipeline's events on the timeline, driven by literal Twilio messages.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path
from typing import Any

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    FunctionCallInProgressFrame,
    InputDTMFFrame,
    InterruptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)

from pipecat_twilio_realtime import TwilioMediaStreamSerializer

from .. import _twilio_helpers as tw
from ._observer_harness import UP, Clock, Harness, in_audio, out_audio

Call = tuple[Any, Path | None, dict[str, Any]]


async def recorded(**params: Any) -> tuple[Harness, list[Call], list[str]]:
    """A harness with a started serializer on its clock, noting ``on_recording`` calls and event order."""
    clock = Clock()
    serializer = TwilioMediaStreamSerializer(clock=clock)
    h = Harness(serializer, clock=clock, **params)
    calls: list[Call] = []
    order: list[str] = []

    @h.observer.event_handler("on_recording")
    async def on_recording(observer: Any, wav: Path | None, call: dict[str, Any]) -> None:
        calls.append((observer, wav, call))
        order.append("recording")

    @h.observer.event_handler("on_call_summary")
    async def on_summary(_observer: Any, _summary: dict[str, Any]) -> None:
        order.append("summary")

    await serializer.deserialize(tw.start())
    return h, calls, order


async def a_little_call(h: Harness) -> None:
    """One caller frame at 50 s, one bot frame back; the clock then runs to 51 s."""
    assert h.serializer is not None
    await h.serializer.deserialize(tw.media(2, b"\xff" * 160))
    await h.push(in_audio(1000))
    await h.serializer.serialize(out_audio(b"\x55" * 160))
    h.clock.now = 51.0


async def test_on_recording_is_called_once_with_the_wav_and_the_call_then_the_summary() -> None:
    h, calls, order = await recorded(record=True, noise_alarm=False)
    await a_little_call(h)
    await h.end()
    await h.observer.finish()  # a second finish records nothing more
    assert order == ["recording", "summary"]
    [(observer, wav, call)] = calls
    assert observer is h.observer
    assert wav is not None and wav == call["wav"] and wav.suffix == ".wav" and wav.is_file()
    assert wav.name.startswith(tw.STREAM_SID)
    assert call["stream_sid"] == tw.STREAM_SID
    assert (call["timeline_json"], call["timeline_html"]) == (None, None)
    assert h.summaries[0]["recording"] == {"wav": str(wav), "timeline_json": None, "timeline_html": None}
    assert call["timeline"]["summary"]["rx_seconds"] == 0.02  # the summary reaches the timeline
    with wave.open(str(wav)) as f:
        assert (f.getnchannels(), f.getframerate()) == (2, 8000) and f.getnframes() >= 160
    wav.unlink()


async def test_record_dir_writes_the_files_named_by_the_stream_sid(tmp_path: Path) -> None:
    h, calls, _ = await recorded(record_dir=str(tmp_path / "calls"), noise_alarm=False)
    await a_little_call(h)
    await h.end()
    [(_, wav, call)] = calls
    folder = tmp_path / "calls"
    names = {p.name for p in folder.iterdir()}
    assert names == {f"{tw.STREAM_SID}{s}" for s in (".wav", ".timeline.json", ".timeline.html")}
    assert wav == folder / f"{tw.STREAM_SID}.wav"
    assert h.summaries[0]["recording"] == {
        "wav": str(folder / f"{tw.STREAM_SID}.wav"),
        "timeline_json": str(folder / f"{tw.STREAM_SID}.timeline.json"),
        "timeline_html": str(folder / f"{tw.STREAM_SID}.timeline.html"),
    }
    doc = json.loads((folder / f"{tw.STREAM_SID}.timeline.json").read_text())
    assert doc["stream_sid"] == tw.STREAM_SID and doc == json.loads(json.dumps(call["timeline"]))


async def test_record_audio_off_keeps_only_the_timeline(tmp_path: Path) -> None:
    h, calls, _ = await recorded(record_dir=str(tmp_path), record_audio=False, noise_alarm=False)
    await a_little_call(h)
    await h.end()
    [(_, wav, _call)] = calls
    assert wav is None
    recording = h.summaries[0]["recording"]
    assert recording["wav"] is None
    assert recording["timeline_json"] == str(tmp_path / f"{tw.STREAM_SID}.timeline.json")
    assert not list(tmp_path.glob("*.wav*"))  # noqa: ASYNC240


async def test_no_recording_without_the_record_switch(tmp_path: Path) -> None:
    h, calls, _ = await recorded(noise_alarm=False)
    await a_little_call(h)
    await h.end()
    assert calls == [] and "recording" not in h.summaries[0]


async def test_without_a_serializer_it_warns_and_hands_over_no_audio(logs: list[str]) -> None:
    h = Harness(record=True, noise_alarm=False)
    calls: list[tuple[Path | None, dict[str, Any]]] = []

    @h.observer.event_handler("on_recording")
    async def on_recording(_o: Any, wav: Path | None, call: dict[str, Any]) -> None:
        calls.append((wav, call))

    await h.push(in_audio(1000))
    await h.end()
    warnings = [line for line in logs if "cannot record" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0]
    assert "no TwilioMediaStreamSerializer reached the observer" in warnings[0]
    assert str(h.observer) in warnings[0]
    [(wav, call)] = calls
    assert call["stream_sid"] == ""
    assert wav is not None and wav.name.startswith("call-")  # no SID: a temporary file, still a WAV
    assert h.summaries[0]["recording"]["wav"] == str(wav)
    wav.unlink()


async def test_no_warning_when_the_serializer_reached_it(logs: list[str]) -> None:
    h, _calls, _ = await recorded(record=True, noise_alarm=False)
    await a_little_call(h)
    await h.end()
    assert not [line for line in logs if "cannot record" in line]
    for _o, wav, _c in _calls:
        if wav is not None:
            wav.unlink()


def events(calls: list[Call], kind: str) -> list[dict[str, Any]]:
    return [e for e in calls[0][2]["timeline"]["events"] if e["kind"] == kind]


async def test_barge_ins_speech_tools_and_digits_reach_the_timeline() -> None:
    h, calls, _ = await recorded(record=True, record_audio=False, noise_alarm=False)
    await a_little_call(h)  # call clock: 0.02 s at 50 s, so t = clock - 49.98
    await h.push(BotStartedSpeakingFrame(), at=51.0)
    await h.push(UserStartedSpeakingFrame(), at=51.5)
    await h.push(InterruptionFrame(), at=51.75)
    await h.push(InterruptionFrame(), at=51.8)  # one barge-in per bot turn
    await h.push(UserStoppedSpeakingFrame(), at=52.0)
    await h.push(UserStartedSpeakingFrame(), UP, at=52.1)  # upstream speech frames are not noted
    await h.push(InputDTMFFrame(KeypadEntry.FIVE), at=52.2)
    await h.push(FunctionCallInProgressFrame("get_weather", "c1", {}), UP, at=52.3)
    await h.push(InputDTMFFrame(KeypadEntry.ONE), UP, at=52.4)  # a digit only downstream
    await h.push(BotStoppedSpeakingFrame(), at=52.9)
    await h.push(BotStartedSpeakingFrame(), at=53.0)
    await h.push(InterruptionFrame(), at=53.5)  # a second turn, its speech start consumed: no latency
    await h.end()
    barge_ins = events(calls, "barge_in")
    assert [(e["t"], e["latency_ms"]) for e in barge_ins] == [(1.77, 250), (3.52, None)]
    # the observer's own latency (speech start frame → interruption) is kept as vad_latency_ms
    assert [e["vad_latency_ms"] for e in barge_ins] == [250, None]
    assert [(e["t"], e["end"]) for e in events(calls, "caller_speech")] == [(1.52, 2.02)]
    assert [(e["t"], e["digit"]) for e in events(calls, "dtmf")] == [(2.22, "5")]
    assert [(e["t"], e["name"]) for e in events(calls, "tool_call")] == [(2.32, "get_weather")]


async def test_a_first_noise_finding_reaches_the_timeline_once() -> None:
    h, calls, _ = await recorded(record=True, record_audio=False)
    await h.serializer.deserialize(tw.media(2, b"\xff" * 160))  # type: ignore[union-attr]
    for i in range(40):  # 0.8 s of a full-scale square wave: noise, not speech
        await h.serializer.serialize(out_audio(bytes([0x00, 0x80] * 80)))  # type: ignore[union-attr]
        h.clock.now += 0.02 if i else 0.0
    await h.end()
    noise = events(calls, "noise")
    assert noise and len(noise) == len(h.noise) == len({e["reason"] for e in noise})
    assert {e["reason"] for e in noise} == {f.reason for f in h.noise}
