"""The simulator writes the bot's recording and timeline beside ``heard.wav`` and prints where."""

from __future__ import annotations

import json
import wave
from pathlib import Path

from ._inprocess import Here, simulate_in


def test_simulator_writes_and_prints_call_wav_and_timeline(tmp_path: Path, here: Here) -> None:
    out = tmp_path / "out"
    run = simulate_in(here, "--scenario", "plain", "--quiet", "--out", str(out / "heard.wav"), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    for name in ("call.wav", "timeline.json", "timeline.html"):
        assert (out / name).is_file()
        assert any(line.split() == [f"{name}:", str(out / name)] for line in run.stdout.splitlines()), name
    with wave.open(str(out / "call.wav")) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 8000)
    events = json.loads((out / "timeline.json").read_text())["events"]
    assert [e["kind"] for e in events].count("turn") == 1
    assert not [p for p in tmp_path.rglob("*.part")]  # no temporary file left
