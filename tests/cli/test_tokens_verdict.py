"""The simulator's verdict says what the call cost: ``tokens: IN in / OUT out, ≈ $X``."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipecat_twilio_realtime.cli.runner_bot import summary_from_log
from pipecat_twilio_realtime.cli.simulate import SimulationResult, run_simulation
from pipecat_twilio_realtime.cli.verdict import print_result
from pipecat_twilio_realtime.realtime.pricing import estimate_cost, prices_for
from pipecat_twilio_realtime.realtime.usage import TokenUsage
from pipecat_twilio_realtime.testing import CallerReport


async def test_verdict_prints_the_calls_tokens_and_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = await run_simulation(scenario="plain", out=tmp_path / "heard.wav", quiet=True)
    assert result.ok, result.problems
    assert result.summary is not None
    realtime = result.summary["realtime"]
    usage = TokenUsage(**{k: v for k, v in realtime["usage"].items() if k != "total_tokens"})
    assert usage.responses == 2 and usage.input_tokens > 0 and usage.output_tokens > 0
    prices = prices_for(realtime["model"])
    assert prices is not None
    capsys.readouterr()
    print_result(result, "plain")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  tokens:")]
    cost = estimate_cost(usage, prices)
    assert lines == [f"  tokens:    {usage.input_tokens} in / {usage.output_tokens} out, ≈ ${cost:.3f}"]


def test_a_runner_bots_ws_stop_line_gives_tokens_and_cost() -> None:
    summary = summary_from_log("INFO WS_STOP stream=MZ2 rx=1 noise=none tokens=103/198 cost=$0.0140\n")
    assert summary is not None
    assert summary["tokens"] == {"input": 103, "output": 198} and summary["cost_usd"] == pytest.approx(0.014)
    unknown = summary_from_log("INFO WS_STOP stream=MZ2 rx=1 noise=none tokens=- cost=-\n")
    assert unknown is not None and unknown["tokens"] is None and unknown["cost_usd"] is None


def test_verdict_without_a_price_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = SimulationResult(report=CallerReport(stream_sid="MZ1"), wav_path=tmp_path / "h.wav")
    result.summary = {"tokens": {"input": 7, "output": 9}, "cost_usd": None}
    print_result(result, "plain")
    assert "  tokens:    7 in / 9 out, no price for this model" in capsys.readouterr().out
