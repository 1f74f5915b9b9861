"""The offline call simulator: the real example bot, the stand-in and the simulated caller."""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

from pipecat_twilio_realtime.simulate import bit_exact_fraction, run_simulation

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "twilio_bot" / "bot.py"


async def test_plain_call_is_speech_and_bit_exact(tmp_path: Path) -> None:
    result = await run_simulation(scenario="plain", out=tmp_path / "heard.wav", bot=EXAMPLE, quiet=True)
    assert result.ok, result.problems
    assert result.bit_exact == 1.0 and result.noise == []
    assert result.summary is not None and result.summary["tx_bytes"] == len(result.report.received_audio)
    assert result.summary["bot_turns"] == 2  # the greeting, then the answer
    with wave.open(str(result.wav_path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav.getnframes() / 8000 > 5.0


async def test_barge_in_call_clears_and_stays_exact(tmp_path: Path) -> None:
    result = await run_simulation(scenario="barge-in", out=tmp_path / "heard.wav", bot=EXAMPLE, quiet=True)
    assert result.ok, result.problems
    assert result.report.barge_in_latencies_s and result.report.clears >= 1
    assert result.summary is not None and result.summary["barge_ins"] == 1
    truncations = result.summary["realtime"]["truncations"]
    assert len(truncations) == 1 and 0 < truncations[0][1] < truncations[0][2]


def test_simulator_exits_nonzero_when_the_bot_sends_noise(tmp_path: Path) -> None:
    out = tmp_path / "noise.wav"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipecat_twilio_realtime.simulate",
            "--bot",
            str(ROOT / "tests/bots/noise_bot.py"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "NOISE (pcm16_as_ulaw" in run.stdout
    assert "result:    FAILED" in run.stdout
    assert out.is_file()


def test_missing_example_bot_is_explained(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pipecat_twilio_realtime.simulate", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert run.returncode != 0
    assert "examples/twilio_bot/bot.py" in run.stderr and "--url" in run.stderr


def test_bit_exact_fraction() -> None:
    produced = bytes(range(256)) * 10
    assert bit_exact_fraction(produced, produced) == 1.0
    flushed = produced[:800] + produced[1600:]  # a barge-in skipped some audio
    assert bit_exact_fraction(flushed, produced) == 1.0
    padded = produced[:2500] + b"\xff" * 60  # the transport pads the last partial chunk
    assert bit_exact_fraction(padded, produced[:2500]) == 1.0
    corrupted = bytearray(produced)
    corrupted[500] ^= 0x55
    assert bit_exact_fraction(bytes(corrupted), produced) < 1.0
    assert bit_exact_fraction(produced.replace(b"\x7f", b"\xff"), produced) == 1.0


async def test_url_mode_calls_a_running_bot(tmp_path: Path) -> None:
    import importlib.util

    from pipecat_twilio_realtime.testing import RealtimeStandIn

    from ._twilio_helpers import serve

    spec = importlib.util.spec_from_file_location("example_bot_for_url_mode", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    async with RealtimeStandIn(speed=8.0) as standin:
        app = module.create_app(
            module.load_settings({"OPENAI_API_KEY": "sk-x", "OPENAI_REALTIME_URL": standin.url})
        )
        async with serve(app) as port:
            result = await run_simulation(url=f"ws://127.0.0.1:{port}/ws", out=tmp_path / "h.wav", quiet=True)
    assert result.ok, result.problems
    assert result.bit_exact is None  # no stand-in of the simulator's own: noise and protocol are judged
    assert len(result.report.received_audio) > 16000 and result.noise == []
