"""The capacity benchmark: where it puts the knee, and a smoke run of the real thing (``--quick``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ._in_this_process import run_script_here

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_capacity import Step, knee  # noqa: E402


def _step(calls: int, latencies: list[float], gaps: int = 0) -> Step:
    return Step("default", calls, latencies_ms=latencies, gaps=gaps, core_share=0.5)


def test_the_knee_is_the_last_step_before_p99_passes_the_bound_or_a_gap_is_heard() -> None:
    fine, slow = [5.0] * 99, [5.0] * 98 + [80.0, 90.0]
    assert knee([_step(8, fine), _step(16, fine), _step(24, slow)], 50.0).calls == 16  # type: ignore[union-attr]
    assert knee([_step(8, fine), _step(16, fine, gaps=1), _step(24, fine)], 50.0).calls == 8  # type: ignore[union-attr]
    assert knee([_step(8, slow)], 50.0) is None
    assert knee([_step(8, [])], 50.0) is None  # no reply measured is no capacity
    assert _step(8, slow).past_knee(100.0) is False


def test_capacity_quick_runs_every_stack_and_prints_the_knee(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = ROOT / "benchmarks" / "bench_capacity.py"
    run = run_script_here(script, "--quick", monkeypatch=monkeypatch, capsys=capsys)
    assert run.returncode == 0, run.stderr
    rows = run.stdout.splitlines()
    # a step row: stack, calls, p50, p99, max, replies, gaps, gap ms, core, cpu-s/min, paired, driver
    steps = [cells for line in rows if len(cells := line.split()) == 12 and cells[1].isdigit()]
    assert {cells[0] for cells in steps} == {"default", "stock"}, run.stdout
    for cells in steps:  # replies were measured and every call was paired with its stand-in session
        assert int(cells[5]) > 0 and int(cells[10]) == int(cells[1]), run.stdout
    knees = rows[rows.index(next(r for r in rows if r.startswith("knee ("))) + 1 :]
    assert {line.split()[0] for line in knees if line.strip()} == {"default", "stock"}, run.stdout
