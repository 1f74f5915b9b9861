"""The benchmark scripts run on a tiny input and print their rows (no timing is asserted).

Each runs in the test's process (``_in_this_process.py``); the bots it starts and measures are processes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ._in_this_process import run_script_here

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
                "default",
                "stock",
                "floor",
                "websocket messages per call-second",
                "frame pushes",
            ],
        ),
        ("bench_chunks.py", ["first audio", "barge-in: heard - truncate", "100ms"]),
        ("bench_marks.py", ["heard - truncate (ms)", "500ms    echoes only", "500ms   interpolated"]),
        ("bench_reply_guard.py", ["ReplyGuard.feed", "g711.decode (for scale)", "share of one core"]),
        (
            "bench_attacks.py",
            [
                "replayed handshakes with victims' CallSids: OpenAI sessions 0, REST requests 0",
                "OpenAI sessions opened 2 (cap 2)",
                "a 300 MB webhook body: HTTP 413",
            ],
        ),
    ],
)
def test_benchmark_runs_quick(
    script: str, rows: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_script_here(ROOT / "benchmarks" / script, "--quick", monkeypatch=monkeypatch, capsys=capsys)
    assert run.returncode == 0, run.stderr
    for row in rows:
        assert row in run.stdout, (row, run.stdout)


def test_profile_summary_groups_own_time_by_where_the_code_lives(tmp_path: Path) -> None:
    import asyncio
    import cProfile

    async def busy() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(2000):
            queue.put_nowait(i)
            await queue.get()

    profile = cProfile.Profile()
    profile.runcall(asyncio.run, busy())
    profile.dump_stats(tmp_path / "prof.demo")
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "profile_summary.py"), str(tmp_path / "prof.demo")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split()[-1] == "demo"
    assert lines[1].startswith("busy total") and float(lines[1].split()[-1]) > 0
    assert any(line.split()[0] == "asyncio" and float(line.split()[-1]) > 0 for line in lines[2:])
