"""The timeline's events: pure rules (turns, speech spans, barge-in latency) and a reconnect in a call."""

from __future__ import annotations

import json
from pathlib import Path

from pipecat_twilio_realtime.cli.simulate import run_simulation
from pipecat_twilio_realtime.observe.timeline import CallTimeline, speech_spans, turns


def test_a_turn_runs_from_the_end_of_speech_to_the_first_audio_heard_before_the_next_speech() -> None:
    events = [
        {"t": 1.0, "kind": "caller_speech", "end": 2.0},
        {"t": 2.45, "kind": "bot_audio", "end": 3.0},
        {"t": 3.2, "kind": "bot_audio", "end": 4.0},
        {"t": 5.0, "kind": "caller_speech", "end": 6.0},  # never answered
        {"t": 8.0, "kind": "caller_speech", "end": 9.0},
    ]
    assert turns(events) == [{"t": 2.0, "kind": "turn", "end": 2.45, "latency_ms": 450}]


def test_speech_spans_gate_on_the_noise_floor_and_join_short_pauses() -> None:
    levels = [100] * 20 + [2000] * 10 + [100] * 4 + [2000] * 6 + [100] * 20 + [5000] * 2 + [100] * 20
    spans = speech_spans(levels, 0.05)
    assert spans == [{"t": 1.0, "kind": "caller_speech", "end": 2.0}]  # the 100 ms click is dropped
    assert speech_spans([900] * 50, 0.05, min_level=300) == []  # a steady hum is the floor, not speech


def test_barge_in_latency_counts_from_the_speech_it_interrupted_with() -> None:
    timeline = CallTimeline()
    timeline.add("barge_in", 3.4, latency_ms=0)
    timeline.caller_speech(True, 3.4)
    timeline.caller_speech(False, 4.0)
    levels = [0] * 60 + [3000] * 20 + [0] * 20  # speech 3.0-4.0 s
    doc = timeline.document(stream_sid="MZ1", duration_s=5.0, levels={"caller": levels, "bot": []})
    barge_in = next(e for e in doc["events"] if e["kind"] == "barge_in")
    assert (barge_in["latency_ms"], barge_in["vad_latency_ms"]) == (400, 0)
    assert [e["kind"] for e in doc["events"]].count("vad_speech") == 1


async def test_a_dropped_upstream_session_shows_as_a_reconnect_in_the_timeline(tmp_path: Path) -> None:
    result = await run_simulation(scenario="drop", out=tmp_path / "heard.wav", quiet=True)
    assert result.ok, result.problems
    events = json.loads((tmp_path / "timeline.json").read_text())["events"]
    reconnects = [e for e in events if e["kind"] == "reconnect"]
    assert len(reconnects) == 1 and reconnects[0]["reason"]
    assert any(e["kind"] == "bot_audio" and e["end"] > reconnects[0]["t"] + 1 for e in events)  # it went on
