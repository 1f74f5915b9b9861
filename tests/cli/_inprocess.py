"""The simulator's command line run in this process (see ``tests/_in_this_process.py``).

``test_missing_caller_wav`` keeps the real ``python -m`` subprocess; ``tests/cli/test_wheel.py`` runs the
installed files in their own processes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipecat_twilio_realtime.cli import simulate as simulate_cli

from .._in_this_process import run_here

Here = tuple[pytest.MonkeyPatch, pytest.CaptureFixture[str]]
"""The ``here`` fixture (``tests/cli/conftest.py``): what running ``main()`` in this process needs."""
BOT_MODULE = "pipecat_twilio_realtime_simulated_bot"
"""The name ``--bot`` loads a bot module under (``cli/simulate.py``); taken out of ``sys.modules`` after."""


def simulate_in(here: Here, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """What ``simulate(ARGS)`` in ``test_simulate.py`` returns, from ``main(ARGS)`` run in ``cwd`` here."""
    monkeypatch, capsys = here
    monkeypatch.chdir(cwd)
    try:
        # ``python -m`` names the module's file in argv[0]
        return run_here(
            lambda: simulate_cli.main(list(args)),
            [simulate_cli.__file__, *args],
            monkeypatch=monkeypatch,
            capsys=capsys,
        )
    finally:
        sys.modules.pop(BOT_MODULE, None)
