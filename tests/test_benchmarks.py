"""The benchmark scripts run on a tiny input and print their rows (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("script", "rows"),
    [
        ("bench_g711.py", ["ours (", "ours (pure tables)", "numpy table index"]),
        (
            "bench_observer.py",
            ["no observer", "observer, checks off", "observer, default (noise alarm + levels)"],
        ),
        ("bench_micro.py", ["floor: json.loads", "serializer (stock): serialize", "service (ours): append"]),
        (
            "bench_stacks.py",
            [
                "1. added latency",
                "out: first delta -> first media  p50",
                "3. OpenAI socket",
                "4. fidelity",
                "2. load",
            ],
        ),
    ],
)
def test_benchmark_runs_quick(script: str, rows: list[str]) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    for row in rows:
        assert row in run.stdout, (row, run.stdout)
