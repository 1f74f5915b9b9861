"""The installed wheel is the product: its commands work from an empty directory, with no repository files."""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipecat_twilio_realtime.cli.simulate import main as simulate_main
from pipecat_twilio_realtime.testing.serve import free_port

ROOT = Path(__file__).resolve().parents[2]


def wait_listening(port: int, process: subprocess.Popen[str], limit_s: float = 60) -> None:
    """Wait until something accepts on 127.0.0.1:``port`` (a start-up wait, not a timed assertion)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited with {process.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listening on {port}")


@contextmanager
def background(args: list[str], env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    """Run a process: stdout piped (read it), stderr to a file (a full pipe would block the process)."""
    with (cwd / f"stderr-{len(list(cwd.glob('stderr-*')))}.log").open("w") as stderr:
        process = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def test_the_core_does_not_import_the_extras() -> None:
    """FastAPI and the example need [example]; prometheus_client needs [metrics]."""
    code = (
        "import sys, pipecat_twilio_realtime, pipecat_twilio_realtime.cli.simulate; "
        "import pipecat_twilio_realtime.testing, pipecat_twilio_realtime.cli.standin; "
        "print('fastapi' in sys.modules, 'pipecat_twilio_realtime.example' in sys.modules, "
        "'prometheus_client' in sys.modules)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.stdout.strip() == "False False False", run.stdout + run.stderr


def test_console_scripts_name_real_functions() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == {"pipecat-twilio-simulate", "pipecat-twilio-bot", "pipecat-twilio-standin"}
    for target in scripts.values():
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), target


def test_help_names_the_command_as_invoked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    as_module = subprocess.run(
        [sys.executable, "-m", "pipecat_twilio_realtime.cli.simulate", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert as_module.returncode == 0 and as_module.stdout.startswith(
        "usage: python -m pipecat_twilio_realtime.cli.simulate"
    )
    # What a console script does: sys.argv[0] is the script's path (here: no second interpreter needed).
    monkeypatch.setattr(sys, "argv", ["/venv/bin/pipecat-twilio-simulate", "--help"])
    with pytest.raises(SystemExit) as exited:
        simulate_main()
    as_script = capsys.readouterr().out
    assert exited.value.code == 0 and as_script.startswith("usage: pipecat-twilio-simulate ")
    assert "--bot" in as_script and "shipped in the package" in as_script


def test_simulate_from_an_empty_dir_with_only_the_wheels_files(tmp_path: Path) -> None:
    # The wheel holds exactly the package directory ([tool.hatch.build.targets.wheel] packages).
    site = tmp_path / "site"
    shutil.copytree(ROOT / "pipecat_twilio_realtime", site / "pipecat_twilio_realtime")
    empty = tmp_path / "empty"
    empty.mkdir()
    run = subprocess.run(
        [sys.executable, "-m", "pipecat_twilio_realtime.cli.simulate", "--quiet"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=empty,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "result:    OK" in run.stdout and "audio:     speech" in run.stdout
    assert (empty / "out" / "heard.wav").is_file()


def test_your_own_bot_offline_standin_bot_simulate(tmp_path: Path) -> None:
    """The README's "Test your own bot offline", each piece its own process, on loopback only."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "OPENAI_REALTIME_URL"):
        env.pop(name, None)
    standin_port, bot_port = free_port(), free_port()
    standin_cmd = [sys.executable, "-m", "pipecat_twilio_realtime.cli.standin", "--port", str(standin_port)]
    with background(standin_cmd, env, tmp_path) as standin:
        assert standin.stdout is not None
        line = standin.stdout.readline().strip()
        assert line == f"OPENAI_REALTIME_URL=ws://127.0.0.1:{standin_port}/v1/realtime"
        realtime_url = line.partition("=")[2]
        bot_env = {
            **env,
            "OPENAI_API_KEY": "sk-offline",
            "ALLOW_UNSIGNED": "1",
            "OPENAI_REALTIME_URL": realtime_url,
            "HOST": "127.0.0.1",
            "PORT": str(bot_port),
        }
        with background([sys.executable, "-m", "pipecat_twilio_realtime.example"], bot_env, tmp_path) as bot:
            wait_listening(bot_port, bot)
            run = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pipecat_twilio_realtime.cli.simulate",
                    "--url",
                    f"ws://127.0.0.1:{bot_port}/ws",
                    "--quiet",
                ],
                capture_output=True,
                text=True,
                timeout=180,
                cwd=tmp_path,
                env=env,
            )
            assert run.returncode == 0, run.stdout + run.stderr
            assert "result:    OK" in run.stdout and "1 of 1 caller turn(s) answered" in run.stdout
            bot.send_signal(signal.SIGTERM)
            # uvicorn shuts down cleanly, then re-raises the SIGTERM it caught (so -15 is a clean stop)
            assert bot.wait(30) in (0, -signal.SIGTERM)
        standin.send_signal(signal.SIGTERM)
        assert standin.wait(30) == 0
        out = standin.stdout.read()
        assert "session 1 opened (0 error event(s) so far)" in out


def test_bot_command_names_a_missing_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    run = subprocess.run(
        [sys.executable, "-m", "pipecat_twilio_realtime.example"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "pipecat-twilio-bot: error: OPENAI_API_KEY is not set" in run.stderr
