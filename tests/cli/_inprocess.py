"""The simulator's command line run in this process: what it prints and its exit status, as from a process.

A new interpreter costs ~1.5 s of CPU (it imports Pipecat, openai and FastAPI again) and seconds of wall
time on a loaded machine, and tells a test of the verdict or of a usage error nothing more. Tests whose
point is the process keep one: ``test_missing_caller_wav`` (``python -m``), ``tests/cli/test_wheel.py``
(the console script), the runner-bot tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from pipecat_twilio_realtime.cli import simulate as simulate_cli

Here = tuple[pytest.MonkeyPatch, pytest.CaptureFixture[str]]
"""The ``here`` fixture (``tests/cli/conftest.py``): what running ``main()`` in this process needs."""
BOT_MODULE = "pipecat_twilio_realtime_simulated_bot"
"""The name ``--bot`` loads a bot module under (``cli/simulate.py``); taken out of ``sys.modules`` after."""


def simulate_here(
    *args: str, cwd: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> subprocess.CompletedProcess[str]:
    """``main(ARGS)`` as ``python -m pipecat_twilio_realtime.cli.simulate ARGS`` in ``cwd`` would run it.

    Returns what ``simulate()`` in ``test_simulate.py`` returns: the exit status and the output. ``main()``
    replaces every log sink with its own on stderr; here only the sinks it adds are taken out again, so
    the worker's logging is as it was, and its own sink writes to the captured stderr as in a process.
    """
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", [simulate_cli.__file__])  # ``python -m`` names the module's file
    monkeypatch.setattr(sys, "path", list(sys.path))  # ``--bot`` puts its folder first
    added: list[int] = []
    real_add, real_remove = logger.add, logger.remove

    def add(*sink: Any, **options: Any) -> int:
        added.append(real_add(*sink, **options))
        return added[-1]

    def remove(handler_id: int | None = None) -> None:
        if handler_id is not None:  # main()'s ``logger.remove()`` would take the worker's sinks too
            real_remove(handler_id)

    monkeypatch.setattr(logger, "add", add)
    monkeypatch.setattr(logger, "remove", remove)
    capsys.readouterr()
    try:
        code = simulate_cli.main(list(args))
    finally:
        for handler_id in added:
            real_remove(handler_id)
        sys.modules.pop(BOT_MODULE, None)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(["main", *args], code, out.out, out.err)


def simulate_in(here: Here, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """:func:`simulate_here` with the ``here`` fixture."""
    return simulate_here(*args, cwd=cwd, monkeypatch=here[0], capsys=here[1])
