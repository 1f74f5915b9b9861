"""The network benchmark's smoke run: a row of finite numbers for every stack × network condition."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ._in_this_process import run_script_here

ROOT = Path(__file__).resolve().parent.parent
STACKS = ["ours", "ours-lead0", "ours-lead250", "ours-lead1000", "stock", "relay"]
CONDITIONS = [
    "none",
    "jitter 20ms",
    "jitter 50ms",
    "jitter 100ms",
    "jitter 50ms bot->caller",
    "stall 250ms/1s",
]
ALWAYS = ["gap_ms_per_min", "bot_speech_s"]
BARGE_IN = ["barge_in_ms", "truncation_error_ms", "error_at_truncate_ms"]
# A stack with no lead can have nothing queued when a stall ends just as the caller speaks: no barge-in to
# measure in that call (seen even with no impairment, on a busy machine). With a lead every call has one.
LEAD_STACKS = ["ours", "ours-lead250", "ours-lead1000"]


def test_quick_run_measures_every_stack_under_every_condition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "network.json"
    script = ROOT / "benchmarks" / "bench_network.py"
    run = run_script_here(script, "--quick", "--json", str(out), monkeypatch=monkeypatch, capsys=capsys)
    assert run.returncode == 0, run.stderr[-3000:]
    document = json.loads(out.read_text())
    assert document["stacks"] == STACKS
    assert document["conditions"] == CONDITIONS
    summary = document["summary"]
    rows = [line.split() for line in run.stdout.splitlines() if line.startswith("  ")]
    for stack in STACKS:
        for condition in CONDITIONS:
            # the printed table has the row, and every figure behind it is a number
            assert [stack, *condition.split()] in [row[: 1 + len(condition.split())] for row in rows], (
                stack,
                condition,
                run.stdout,
            )
            cell = summary[stack][condition]
            for figure in ALWAYS:
                assert math.isfinite(cell[figure]), (stack, condition, figure, cell)
            assert cell["bot_speech_s"] > 0.3, (stack, condition, cell)
            if stack in LEAD_STACKS:
                for figure in BARGE_IN:
                    assert math.isfinite(cell[figure]), (stack, condition, figure, cell)
                assert cell["barge_in_ms"] > 0, (stack, condition, cell)
    # stalls that fell inside bot speech are counted (a ~1 s reply may dodge them on some stacks)
    per_stall = [summary[stack]["stall 250ms/1s"]["gap_ms_per_stall"] for stack in STACKS]
    assert any(math.isfinite(value) for value in per_stall), per_stall
