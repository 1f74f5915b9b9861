"""The simulator's ``--network``, ``--send-ahead-ms`` and ``--max-gap-ms``: gaps in the verdict, a limit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipecat_twilio_realtime.cli.simulate import UsageError, run_simulation
from pipecat_twilio_realtime.cli.verdict import BUSY_LAG_MS, DEFAULT_MAX_GAP_MS, judge, verdict_lines
from pipecat_twilio_realtime.example import create_app, load_settings
from pipecat_twilio_realtime.testing import CallerReport, RealtimeStandIn, load_clip
from pipecat_twilio_realtime.testing.network import NetworkConfig

from .._twilio_helpers import serve
from ._inprocess import Here, simulate_in
from .test_simulate import assert_usage_error

GAPS_LINE = re.compile(
    r"^  gaps:      (\d+) ms in ([\d.]+) s of bot speech \((\d+) gaps?[^)]*\), limit 40 ms"
    r"(; not judged: .*)?$"
)


@pytest.mark.parametrize(
    ("spec", "names"),
    [("jitter=4", "'4' is not a duration"), ("stall=250ms", "stall=PAUSE/EVERY"), ("warp=1ms", "'warp'")],
)
def test_a_bad_network_spec_is_one_line_with_a_hint(
    tmp_path: Path, here: Here, spec: str, names: str
) -> None:
    run = simulate_in(here, "--network", spec, "--quiet", cwd=tmp_path)
    assert_usage_error(run, names)
    assert "e.g. --network jitter=100ms,stall=250ms/5s" in run.stderr
    assert not (tmp_path / "out").exists()  # refused before any call was placed


async def test_send_ahead_ms_is_refused_for_a_bot_whose_transport_it_cannot_set(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--send-ahead-ms sets the lead of the example bot"):
        await run_simulation(url="ws://127.0.0.1:9/ws", send_ahead_ms=0, out=tmp_path / "h.wav", quiet=True)


def _heard_report(gaps: list[tuple[float, float]]) -> CallerReport:
    speech = load_clip("bot_greeting")
    report = CallerReport(received_audio=bytearray(speech), heard=bytearray(speech), gaps=gaps)
    report.timeline += speech
    return report


@pytest.mark.parametrize(
    ("gaps", "limit", "fails"),
    [([], DEFAULT_MAX_GAP_MS, False), ([(1.0, 20.0), (2.0, 20.0)], 40, False), ([(1.0, 60.0)], 40, True)],
)
def test_the_verdict_prints_gaps_and_fails_past_the_limit(
    tmp_path: Path, gaps: list[tuple[float, float]], limit: float, fails: bool
) -> None:
    result = judge(_heard_report(gaps), None, None, tmp_path / "h.wav", [], "plain", max_gap_ms=limit)
    lines = verdict_lines(result, "plain")
    total = sum(ms for _, ms in gaps)
    gap_line = next(line for line in lines if line.startswith("  gaps:"))
    assert gap_line.startswith(f"  gaps:      {total:.0f} ms in 4.2 s of bot speech ({len(gaps)} gap"), (
        gap_line
    )
    assert gap_line.endswith(f", limit {limit:g} ms"), gap_line
    assert result.ok is not fails, result.problems
    if fails:
        assert lines[-1].startswith("  result:    FAILED: GAPS: the caller heard 60 ms of silence"), lines[-1]
        assert "over --max-gap-ms 40" in lines[-1]
    else:
        assert lines[-1] == "  result:    OK"


@pytest.mark.parametrize(("lag_ms", "fails"), [(BUSY_LAG_MS, True), (BUSY_LAG_MS + 1, False)])
def test_gaps_on_a_starved_simulator_are_reported_but_not_judged(
    tmp_path: Path, lag_ms: float, fails: bool
) -> None:
    report = _heard_report([(1.0, 60.0)])
    result = judge(report, None, None, tmp_path / "h.wav", [], "plain", max_gap_ms=40, loop_lag_ms=lag_ms)
    lines = verdict_lines(result, "plain")
    gap_line = next(line for line in lines if line.startswith("  gaps:"))
    assert result.ok is not fails, result.problems
    if fails:
        assert gap_line.endswith(", limit 40 ms") and lines[-1].startswith("  result:    FAILED: GAPS")
    else:
        assert gap_line.endswith(
            f"not judged: this machine was busy (the simulator's own event loop ran up to "
            f"{lag_ms:.0f} ms late, and the caller, bot and stand-in share it)"
        ), gap_line
        assert lines[-1] == "  result:    OK"


def test_a_call_through_jitter_without_the_lead_fails_the_verdict(tmp_path: Path, here: Here) -> None:
    # Pipecat's real-time pacing (lead 0) through 100 ms of jitter: the caller hears gaps, the call fails
    args = ("--network", "jitter=100ms", "--seed", "3", "--send-ahead-ms", "0", "--quiet")
    run = simulate_in(here, *args, "--out", str(tmp_path / "h.wav"), cwd=tmp_path)
    busy = "not judged: this machine was busy" in run.stdout  # a starved simulator reports, not judges
    assert run.returncode == (0 if busy else 1), run.stdout + run.stderr
    assert (
        "  network:   jitter 100 ms (normal) (both directions), seed 3; the bot's send-ahead lead 0 ms"
        in run.stdout
    )
    found = [m for line in run.stdout.splitlines() if (m := GAPS_LINE.match(line))]
    assert len(found) == 1, run.stdout
    gap_ms, speech_s, count = int(found[0][1]), float(found[0][2]), int(found[0][3])
    assert gap_ms > DEFAULT_MAX_GAP_MS and count >= 2 and speech_s > 8.0, found[0][0]
    result_line = run.stdout.strip().splitlines()[-1]
    if not busy:
        assert result_line.startswith("  result:    FAILED: GAPS: the caller heard"), result_line
    assert "Traceback" not in run.stderr


async def test_url_mode_reports_gaps_through_the_network(tmp_path: Path) -> None:
    # a running bot (the example, with its default lead) called at --url through 100 ms of jitter
    network = NetworkConfig.parse("jitter=100ms,seed=3")
    async with RealtimeStandIn() as standin:
        env = {"ALLOW_UNSIGNED": "1", "OPENAI_API_KEY": "sk-x", "OPENAI_REALTIME_URL": standin.url}
        async with serve(create_app(load_settings(env))) as port:
            url = f"ws://127.0.0.1:{port}/ws"
            result = await run_simulation(url=url, network=network, out=tmp_path / "h.wav", quiet=True)
    lines = verdict_lines(result, "plain")
    assert result.ok, result.problems
    assert result.send_ahead_ms is None  # not the simulator's own bot: its lead is not claimed
    assert "  network:   jitter 100 ms (normal) (both directions), seed 3" in lines
    gap_line = next(line for line in lines if line.startswith("  gaps:"))
    assert GAPS_LINE.match(gap_line) and gap_line.startswith("  gaps:      0 ms in "), gap_line
    assert result.report.gaps == [] and result.report.bot_speech_s > 8.0
