"""The offline call simulator: the packaged example bot, the stand-in and the simulated caller."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from pipecat_twilio_realtime import g711
from pipecat_twilio_realtime.cli.simulate import (
    DEFAULT_ANSWER_TIMEOUT_S,
    bit_exact_fraction,
    main,
    pcm_rms,
    run_simulation,
    script_for,
)
from pipecat_twilio_realtime.example import create_app, load_settings
from pipecat_twilio_realtime.testing import RealtimeStandIn, WaitForBotAudio, load_clip
from pipecat_twilio_realtime.testing.serve import free_port

from .._twilio_helpers import serve, write_pcm_wav
from ._inprocess import Here, simulate_in

ROOT = Path(__file__).resolve().parents[2]


def simulate(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m pipecat_twilio_realtime.cli.simulate ARGS`` in ``cwd``, with this checkout importable."""
    return subprocess.run(
        [sys.executable, "-m", "pipecat_twilio_realtime.cli.simulate", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def test_plain_call_is_speech_and_bit_exact(tmp_path: Path) -> None:
    result = await run_simulation(scenario="plain", out=tmp_path / "heard.wav", quiet=True)
    assert result.ok, result.problems
    assert result.bit_exact == 1.0 and result.noise == []
    assert (result.caller_turns, result.answered_turns, result.vad_turns) == (1, 1, 1)
    assert result.summary is not None and result.summary["tx_bytes"] == len(result.report.received_audio)
    assert result.summary["bot_turns"] == 2  # the greeting, then the answer
    with wave.open(str(result.wav_path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav.getnframes() / 8000 == result.call_s  # the call length printed is the WAV's
    assert 5.0 < result.heard_s <= result.call_s


async def test_barge_in_call_clears_and_stays_exact(tmp_path: Path) -> None:
    result = await run_simulation(scenario="barge-in", out=tmp_path / "heard.wav", quiet=True)
    assert result.ok, result.problems
    assert result.report.barge_in_latencies_s and result.report.clears >= 1
    assert result.barge_in_ms == [s * 1000 for s in result.report.barge_in_latencies_s]
    assert (result.caller_turns, result.answered_turns) == (2, 2)
    assert result.summary is not None and result.summary["barge_ins"] == 1
    truncations = result.summary["realtime"]["truncations"]
    assert len(truncations) == 1 and 0 < truncations[0][1] < truncations[0][2]


def test_barge_in_verdict_prints_one_latency(tmp_path: Path, here: Here) -> None:
    run = simulate_in(
        here, "--scenario", "barge-in", "--quiet", "--out", str(tmp_path / "h.wav"), cwd=tmp_path
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "barge_in_latency_ms" not in run.stdout and "barge_in_ms" not in run.stdout
    # one latency: the gaps and network lines are durations of audio, not latencies
    lines = [
        line
        for line in run.stdout.splitlines()
        if " ms " in line and not line.startswith(("  gaps:", "  network:"))
    ]
    assert (
        len(lines) == 1 and "from the caller's first interrupting speech frame to Twilio's clear" in lines[0]
    )
    assert "result:    OK" in run.stdout


def test_simulator_exits_nonzero_when_the_bot_sends_noise(tmp_path: Path, here: Here) -> None:
    out = tmp_path / "noise.wav"
    run = simulate_in(here, "--bot", str(ROOT / "tests/bots/noise_bot.py"), "--out", str(out), cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "NOISE (pcm16_as_ulaw" in run.stdout
    assert "result:    FAILED" in run.stdout
    assert out.is_file()


def caller_audio(kind: str) -> bytes:
    """PCM16 8 kHz: 2 s of digital silence, or the shipped question at 1/200 of its level."""
    if kind == "silence":
        return b"\x00\x00" * 16000
    question = np.frombuffer(g711.decode(load_clip("caller_question")), dtype="<i2")
    return (question // 200).astype("<i2").tobytes()


def test_the_caller_waits_8_s_for_an_answer_unless_told(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert DEFAULT_ANSWER_TIMEOUT_S == 8.0
    waits = [s for s in script_for("long", b"\xff" * 160, turns=2) if isinstance(s, WaitForBotAudio)]
    assert [w.timeout_s for w in waits] == [15.0, 8.0, 8.0]  # the greeting's own bound, then each answer's
    short = script_for("plain", b"\xff" * 160, answer_timeout_s=2.5)
    assert [s.timeout_s for s in short if isinstance(s, WaitForBotAudio)] == [15.0, 2.5]
    asked: list[float] = []

    async def fake_run(**kwargs: object) -> None:
        asked.append(kwargs["answer_timeout_s"])  # type: ignore[arg-type]
        raise SystemExit(0)

    monkeypatch.setattr("pipecat_twilio_realtime.cli.simulate.run_simulation", fake_run)
    for argv in ([], ["--answer-timeout-s", "2.5"]):
        with pytest.raises(SystemExit):
            main(argv)
    assert asked == [8.0, 2.5]
    for bad in ("0", "-1", "soon", "inf"):
        with pytest.raises(SystemExit) as exit_:
            main(["--answer-timeout-s", bad])
        assert exit_.value.code == 2
        assert "argument --answer-timeout-s: " in capsys.readouterr().err


# The bound a turn is missed at is the test's to set (the default is pinned above): 3 s is ~7 times the
# stand-in's answer time on a loaded machine (it answers 0.4 s after the caller stops).
NO_ANSWER_BOUND = ("--answer-timeout-s", "3")


@pytest.mark.parametrize("name", ["silence", "quiet"])
def test_caller_wav_nobody_answers_fails_with_the_reason(tmp_path: Path, here: Here, name: str) -> None:
    wav = write_pcm_wav(tmp_path / f"{name}.wav", caller_audio(name))
    args = ("--caller-wav", str(wav), "--quiet", "--out", str(tmp_path / "h.wav"), *NO_ANSWER_BOUND)
    run = simulate_in(here, *args, cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "result:    FAILED" in run.stdout
    assert "the bot answered 0 of 1 caller turn(s)" in run.stdout
    assert "caller audio RMS" in run.stdout and "VAD heard 0 speech turn(s)" in run.stdout


def test_pcm_rms() -> None:
    assert pcm_rms(b"") == 0.0 and pcm_rms(b"\xff" * 160) == 0.0
    assert math.isclose(
        pcm_rms(g711.encode((1000).to_bytes(2, "little", signed=True) * 80)), 1000, rel_tol=0.05
    )


# ------------------------------------------------------------------ usage errors: one line, exit 2


def assert_usage_error(run: subprocess.CompletedProcess[str], hint: str) -> None:
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    # Pipecat logs its version banner when first imported, before any code of ours runs: not our line.
    lines = [line for line in run.stderr.strip().splitlines() if "ᓚᘏᗢ Pipecat" not in line]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("python -m pipecat_twilio_realtime.cli.simulate: error: ")
    assert hint in lines[0], lines[0]


def test_missing_caller_wav(tmp_path: Path) -> None:
    assert_usage_error(simulate("--caller-wav", "nope.wav", cwd=tmp_path), "no such file")


# The rest run main() in this process (``_inprocess.py``): the same output and exit status, without
# a new interpreter importing Pipecat again for an error decided before any call.


def test_caller_wav_is_a_directory(tmp_path: Path, here: Here) -> None:
    assert_usage_error(simulate_in(here, "--caller-wav", str(tmp_path), cwd=tmp_path), "is a directory")


def test_unreadable_caller_wav(tmp_path: Path, here: Here) -> None:
    (tmp_path / "junk.wav").write_bytes(b"this is not a RIFF file at all" * 10)
    assert_usage_error(simulate_in(here, "--caller-wav", "junk.wav", cwd=tmp_path), "not a WAV file")


@pytest.mark.parametrize(("rate", "channels"), [(16000, 1), (8000, 2)])
def test_caller_wav_of_the_wrong_rate_or_channels(
    tmp_path: Path, here: Here, rate: int, channels: int
) -> None:
    write_pcm_wav(tmp_path / "x.wav", b"\x00\x00" * channels * 800, rate=rate, channels=channels)
    run = simulate_in(here, "--caller-wav", "x.wav", cwd=tmp_path)
    assert_usage_error(run, "the caller needs 8000 Hz mono. Convert it first")


def test_bad_bot_path(tmp_path: Path, here: Here) -> None:
    assert_usage_error(
        simulate_in(here, "--bot", "no_such_bot.py", cwd=tmp_path), "--bot no_such_bot.py: no such file"
    )
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    assert_usage_error(
        simulate_in(here, "--bot", "broken.py", cwd=tmp_path), "importing it failed: RuntimeError: boom"
    )
    (tmp_path / "empty.py").write_text("")
    assert_usage_error(
        simulate_in(here, "--bot", "empty.py", cwd=tmp_path), "has no load_settings(), create_app()"
    )


def test_url_connection_refused(tmp_path: Path, here: Here) -> None:
    url = f"ws://127.0.0.1:{free_port()}/ws"
    assert_usage_error(simulate_in(here, "--url", url, cwd=tmp_path), "connection refused")


async def test_url_bot_that_checks_signatures_refuses(tmp_path: Path, here: Here) -> None:
    settings = load_settings(
        {
            "OPENAI_API_KEY": "sk-x",
            "TWILIO_ACCOUNT_SID": "AC1",
            "TWILIO_AUTH_TOKEN": "tok-0123456789abcdef",
            "PUBLIC_HOST": "b.x",
        }
    )
    async with serve(create_app(settings)) as port:
        run = await asyncio.to_thread(simulate_in, here, "--url", f"ws://127.0.0.1:{port}/ws", cwd=tmp_path)
    assert_usage_error(run, "the bot refused the handshake (HTTP 403): it checks Twilio signatures")


# ------------------------------------------------------------------ helpers and --url


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
    async with RealtimeStandIn(speed=8.0) as standin:
        app = create_app(
            load_settings(
                {"ALLOW_UNSIGNED": "1", "OPENAI_API_KEY": "sk-x", "OPENAI_REALTIME_URL": standin.url}
            )
        )
        async with serve(app) as port:
            result = await run_simulation(url=f"ws://127.0.0.1:{port}/ws", out=tmp_path / "h.wav", quiet=True)
    assert result.ok, result.problems
    assert result.bit_exact is None and result.vad_turns is None  # not the simulator's own stand-in
    assert len(result.report.received_audio) > 16000 and result.noise == []
