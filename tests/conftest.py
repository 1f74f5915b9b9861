"""Fixtures shared by the test files."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger


def _cache_bytecode_outside_the_tree() -> None:
    """Where ``PYTHONDONTWRITEBYTECODE`` is set (as on this project's machines), keep bytecode anyway, in
    ``.pytest_cache/pycache`` instead of beside the sources.

    Without it every xdist worker and every subprocess a test starts compiles this package and rewrites
    every test module's asserts again: ~1.8 s of CPU per worker at collection alone (4.2 s → 2.4 s), eight
    times per run. The tree stays as clean as the setting asked; a ``PYTHONPYCACHEPREFIX`` of your own wins.
    """
    if not sys.dont_write_bytecode or sys.pycache_prefix or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    prefix = str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "pycache")
    sys.pycache_prefix, sys.dont_write_bytecode = prefix, False
    os.environ["PYTHONPYCACHEPREFIX"] = prefix  # the subprocesses tests start (bots, simulators, runners)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


_cache_bytecode_outside_the_tree()


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Every log line written during the test, DEBUG and up."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="DEBUG")
    yield lines
    logger.remove(sink)


# Seconds of wall time each of these files takes (sum of its tests under `-n 8`, 2026-12-07 17:03 UTC, 2 cores
# also busy with other work; regenerate from a run with a per-test timer, e.g. `--durations=0`): almost all
# of it waiting on real-time calls and subprocesses. With ``-n 8`` a worker that picks up a 25 s test last
# keeps the whole run waiting, so these go first, longest first, and the many quick tests fill the gaps
# behind them. A file not listed keeps its place after them; the order is the same on every xdist worker.
SLOW_FILES = {
    "tests/cli/test_simulate.py": 108,
    "tests/realtime/test_dead_air.py": 90,
    "tests/cli/test_runner_bot.py": 75,
    "tests/realtime/test_service.py": 65,
    "tests/example/test_service_ops.py": 63,
    "tests/example/test_soak.py": 58,
    "tests/example/test_fleet.py": 53,
    "tests/cli/test_wheel.py": 52,
    "tests/test_benchmarks.py": 44,
    "tests/example/test_flood_neighbour.py": 43,
    "tests/realtime/test_playout_through_network.py": 36,
    "tests/example/test_bot.py": 33,
    "tests/cli/test_simulate_network.py": 30,
    "tests/observe/test_recording.py": 30,
    "tests/test_bench_network.py": 22,
    "tests/observe/test_twilio_buffer_call.py": 19,
    "tests/example/test_press_zero.py": 17,
    "tests/realtime/test_dtmf_to_model.py": 16,
    "tests/observe/test_timeline_events.py": 15,
    "tests/observe/test_noise_guard_call.py": 15,
    "tests/observe/test_observer.py": 15,
}


def pytest_configure(config: pytest.Config) -> None:
    """With ``-n``, hand tests to xdist workers one at a time unless ``--maxschedchunk`` says otherwise.

    xdist's ``--dist load`` starts each worker on a contiguous chunk of a quarter of its share (41 tests
    at ``-n 8``): the first worker got every subprocess and simulator test of ``tests/cli`` and ran
    ~290 s while the others idled. One at a time, slowest first, each worker takes the next test when
    it is free.
    """
    option = config.option
    if getattr(option, "maxschedchunk", "absent") is None:  # xdist is installed and the user left it
        option.maxschedchunk = 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the slow files first (see ``SLOW_FILES``); a stable sort keeps each file's own order."""
    root = config.rootpath

    def weight(item: pytest.Item) -> int:
        try:
            return -SLOW_FILES.get(item.path.relative_to(root).as_posix(), 0)
        except ValueError:  # a test outside the checkout
            return 0

    items.sort(key=weight)
