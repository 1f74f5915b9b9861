"""A bot written for Pipecat's runner, moved onto this package, tested offline as it is.

``tests/bots/runner_bot.py`` is Pipecat's OpenAI Realtime example in its Twilio shape with
``semantic_vad``; it runs under Pipecat's own runner (``python bot.py -t twilio``) in a child process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipecat_twilio_realtime.cli.runner_bot import is_runner_bot, summary_from_log
from pipecat_twilio_realtime.cli.simulate import UsageError, run_simulation

from .test_simulate import free_port, simulate

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "tests" / "bots" / "runner_bot.py"


@pytest.mark.parametrize(("scenario", "turns"), [("plain", 1), ("barge-in", 1), ("long", 2)])
async def test_a_runner_bot_with_semantic_vad_passes_the_simulator_bit_exact(
    tmp_path: Path, scenario: str, turns: int
) -> None:
    result = await run_simulation(
        scenario=scenario, out=tmp_path / "heard.wav", bot=BOT, turns=turns, quiet=True
    )
    assert result.ok, result.problems
    assert result.bit_exact == 1.0 and result.noise == []
    assert result.answered_turns == result.caller_turns >= 1
    # the bot's own MediaStatsObserver() (no arguments) found the serializer: wire totals match the caller's
    summary = result.summary
    assert summary is not None, (tmp_path / "bot.log").read_text()[-3000:]
    assert summary["tx_bytes"] == len(result.report.received_audio) > 0
    assert summary["rx_bytes"] > 0 and summary["bot_turns"] >= 2
    if scenario == "barge-in":
        assert result.report.clears >= 1 and summary["barge_ins"] >= 1


async def test_a_runner_bot_that_cannot_start_is_a_usage_error_naming_its_output(tmp_path: Path) -> None:
    broken = tmp_path / "bot.py"
    broken.write_text(BROKEN)
    with pytest.raises(UsageError, match=r"runner exited with status 3.*bot\.log"):
        await run_simulation(out=tmp_path / "heard.wav", bot=broken, quiet=True)


BROKEN = """
async def bot(runner_args):
    pass


if __name__ == "__main__":
    import sys

    print("no runner today")
    sys.exit(3)
"""


def test_a_module_with_bot_and_no_app_contract_is_a_runner_bot() -> None:
    class Runner:
        async def bot(self) -> None: ...

    class Ours(Runner):
        def create_app(self) -> None: ...

    assert is_runner_bot(Runner()) and not is_runner_bot(Ours()) and not is_runner_bot(object())


def test_the_summary_is_read_from_the_last_ws_stop_line() -> None:
    log = (
        "INFO WS_STOP stream=MZ1 rx=1 tx=2 noise=none\n"
        "INFO WS_STOP stream=MZ2 rx=99680 tx=68800 rx_s=12.46 bot_turns=2 barge_ins=0 barge_in_ms=- "
        "first_reply_ms=2 noise=pcm16_as_ulaw:1,white_noise:2\n"
    )
    assert summary_from_log(log) == {
        "stream": "MZ2",
        "rx_bytes": 99680,
        "tx_bytes": 68800,
        "rx_s": 12.46,
        "bot_turns": 2,
        "barge_ins": 0,
        "barge_in_ms": None,
        "first_reply_ms": 2,
        "noise": {"pcm16_as_ulaw": 1, "white_noise": 2},
    }
    assert summary_from_log("no summary here") is None


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_simulator_calls_a_runner_bot_started_by_hand_under_pipecats_runner(tmp_path: Path) -> None:
    """The README's three terminals for a runner bot: stand-in, ``python bot.py -t twilio -x``, simulator."""
    standin_port, bot_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.pop("TWILIO_AUTH_TOKEN", None)
    standin = subprocess.Popen(
        [sys.executable, "-m", "pipecat_twilio_realtime.cli.standin", "--port", str(standin_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bot_env = {
        **env,
        "OPENAI_API_KEY": "sk-offline",
        "OPENAI_REALTIME_URL": f"ws://127.0.0.1:{standin_port}/v1/realtime",
    }
    host = f"127.0.0.1:{bot_port}"
    with (tmp_path / "bot.log").open("wb") as log:
        bot = subprocess.Popen(
            [
                sys.executable,
                str(BOT),
                "-t",
                "twilio",
                "--host",
                "127.0.0.1",
                "--port",
                str(bot_port),
                "-x",
                host,
            ],
            env=bot_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90  # the runner's imports take seconds on a loaded machine
        while not _listening(bot_port) and time.monotonic() < deadline:
            assert bot.poll() is None, (tmp_path / "bot.log").read_text()[-3000:]
            time.sleep(0.2)
        run = simulate("--url", f"ws://{host}/ws", "--quiet", cwd=tmp_path, timeout=180)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "result:    OK" in run.stdout
        text = (tmp_path / "bot.log").read_text()
        for _ in range(100):
            if (summary := summary_from_log(text)) is not None:
                break
            time.sleep(0.1)
            text = (tmp_path / "bot.log").read_text()
        assert summary is not None, text[-3000:]
        assert summary["tx_bytes"] > 0 and summary["bot_turns"] >= 2
    finally:
        for process in (bot, standin):
            process.terminate()
            process.wait(timeout=20)
