"""Ours, stock Pipecat and a plain relay under network jitter and stalls, one run, side by side (issue 25).

    python benchmarks/bench_network.py [--quick] [--repeats 3] [--stacks ours,stock,relay] [--json out.json]

Stacks (each its own process against its own OpenAI stand-in, with the stand-in's default model-like
pacing; the simulated Twilio callers run here):

* ``ours``: our serializer and service with ``SendAheadWebsocketTransport`` at ``DEFAULT_SEND_AHEAD_MS``
  (the example bot's transport); ``ours-lead0`` the same with lead 0 (Pipecat's real-time pacing: each
  message leaves when it should start playing); ``ours-lead250`` / ``ours-lead1000`` other leads;
* ``stock``: ``TwilioFrameSerializer`` + ``OpenAIRealtimeLLMService`` + ``FastAPIWebsocketTransport``
  (as ``bench_stacks.py``);
* ``relay``: ``benchmarks/_relay.py``, a twilio-samples-style relay (deltas forwarded as they arrive, a
  mark per delta, ``clear`` + truncate at the last echoed mark on ``speech_started``).

Conditions (``testing/network.py``, seeded with the repeat's index): none; jitter 20/50/100 ms on both
directions (``|N(0, jitter)|`` extra delay per message, in order as TCP keeps it); 50 ms bot → caller only
(so mark echoes and the caller's speech are not delayed); a 250 ms stall every 5 s bot → caller only. For
one condition all stacks' calls run at the same time, so they share the machine's load; conditions and
repeats run one after another, after one unmeasured warm-up call per stack.

One call: the caller waits for the greeting, talks over it after 1.5 s of audio (barge-in), waits for the
answer, asks a question and listens to the whole answer (~10 s of bot speech). Per call:

* gap ms per minute of bot speech: ``CallerReport.gap_ms / bot_speech_s * 60`` (silence the caller's
  20 ms playout clock had to insert inside bot speech because audio had not arrived); ``per stall``: gap ms
  over the stalls that began while the bot was talking;
* barge-in ms: the caller's first interrupting frame → the ``clear`` reaching the caller (as
  ``cli/simulate`` reports ``barge_in_ms``);
* truncation error ms: what the caller had heard of the greeting when the ``clear`` arrived minus the
  ``audio_end_ms`` of the first ``conversation.item.truncate`` the stand-in received after the caller
  started talking (positive: the truncate says less than was heard).

``lag ms``: how late this process's event loop (callers, network links, stand-ins) ran at worst during the
call, a gauge of the machine's load at that moment. Medians over the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_stacks import Bot, _start_bot, _stop_bot, quick_forks_bots

from pipecat_twilio_realtime import DEFAULT_SEND_AHEAD_MS
from pipecat_twilio_realtime.testing import (
    CallerReport,
    RealtimeStandIn,
    Silence,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    WaitForBotSilence,
    load_clip,
)
from pipecat_twilio_realtime.testing.lag import LoopLag
from pipecat_twilio_realtime.testing.network import NetworkConfig
from pipecat_twilio_realtime.testing.twilio.script import Segment

RELAY = Path(__file__).resolve().parent / "_relay.py"


@dataclass(frozen=True)
class NetStack:
    """One benchmarked stack: its process kind (``ours``, ``stock``, ``relay``) and environment."""

    kind: str
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""


def _lead(ms: int, note: str) -> NetStack:
    return NetStack("ours", {"BENCH_SEND_AHEAD_MS": str(ms)}, note)


STACKS: dict[str, NetStack] = {
    "ours": _lead(
        DEFAULT_SEND_AHEAD_MS, f"SendAheadWebsocketTransport, lead {DEFAULT_SEND_AHEAD_MS} ms (default)"
    ),
    "ours-lead0": _lead(0, "the same, lead 0: Pipecat's real-time pacing"),
    "ours-lead250": _lead(250, "the same, lead 250 ms"),
    "ours-lead1000": _lead(1000, "the same, lead 1000 ms"),
    "stock": NetStack("stock", note="TwilioFrameSerializer + OpenAIRealtimeLLMService, 20 ms messages"),
    "relay": NetStack("relay", note="_relay.py: deltas forwarded as they arrive, mark per delta"),
}
"""Every stack, in the order they are printed."""

CONDITIONS: dict[str, str] = {
    "none": "",
    "jitter 20ms": "jitter=20ms",
    "jitter 50ms": "jitter=50ms",
    "jitter 100ms": "jitter=100ms",
    "jitter 50ms bot->caller": "to_caller.jitter=50ms",
    "stall 250ms/5s": "to_caller.stall=250ms/5s",
}
"""Network conditions: a name and its ``NetworkConfig.parse`` text (the seed is added per repeat)."""

QUICK_CONDITIONS: dict[str, str] = {
    **{name: text for name, text in CONDITIONS.items() if "stall" not in name},
    "stall 250ms/1s": "to_caller.stall=250ms/1s",
}
"""``--quick``: its calls are ~4 s, so the stall comes every second (a stall every 5 s would miss them)."""

STALL_S = 0.25
BARGE_LABEL = "talks over the bot"


class TruncateTimes(RealtimeStandIn):
    """The stand-in, recording when each ``conversation.item.truncate`` arrived."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.truncates: list[tuple[float, dict[str, Any]]] = []

    async def _on_truncate(self, call: Any, data: dict[str, Any]) -> None:
        self.truncates.append((time.monotonic(), data))
        await super()._on_truncate(call, data)


@dataclass
class CallResult:
    """What one call measured."""

    gap_ms_per_min: float
    gap_count: int
    gap_ms_per_stall: float
    barge_in_ms: float
    truncation_error_ms: float
    error_at_truncate_ms: float
    bot_speech_s: float
    loop_lag_ms: float = math.nan


def script(quick: bool) -> list[Segment]:
    """The caller's script: barge in over the greeting, then (full run) a whole answer."""
    interrupt = load_clip("caller_interrupt")
    if quick:
        return [
            WaitForBotAudio(after_s=0.2, timeout_s=8.0),
            Silence(0.3),
            Speech(interrupt[:5600], BARGE_LABEL),
            Silence(0.2),
        ]
    return [
        # a fixed time, not WaitForBotAudio(after_s=1.5): that needs 1.5 s without a gap
        WaitForBotAudio(after_s=0.2, timeout_s=8.0),
        Silence(1.3),
        Speech(interrupt, BARGE_LABEL),
        WaitForBotAudio(after_s=0.2, timeout_s=8.0),
        WaitForBotSilence(),
        Speech(load_clip("caller_question"), "question"),
        WaitForBotAudio(after_s=0.2, timeout_s=8.0),
        WaitForBotSilence(),
    ]


def _stalls_in_speech(report: CallerReport, every_s: float) -> int:
    """Stalls (every ``every_s`` from the call's start) that began while the caller heard the bot.

    The timeline is 20 ms ticks of what the caller heard; a stall counts when bot audio played in the
    200 ms before it began and again within 1 s after it ended (the bot was mid-reply).
    """
    ticks = report.timeline
    tick = 160

    def talking(start_s: float, end_s: float) -> bool:
        first, last = max(0, int(start_s / 0.02)), int(end_s / 0.02)
        return any(set(ticks[i * tick : (i + 1) * tick]) != {0xFF} for i in range(first, last))

    seconds = len(ticks) / 8000
    starts = [k * every_s for k in range(1, int(seconds / every_s) + 1)]
    return sum(talking(s - 0.2, s) and talking(s + STALL_S, s + STALL_S + 1.0) for s in starts)


def measure(
    report: CallerReport, truncates: list[tuple[float, dict[str, Any]]], stall_every_s: float
) -> CallResult:
    """One call's figures from the caller's report and the truncates its stand-in received.

    ``error_at_truncate_ms`` is the truncation error against what the caller had heard when the truncate
    reached the stand-in (the heard position at the ``clear``, less the time the ``clear`` took to arrive
    after that: the greeting played on meanwhile): the bot's own precision, without the ``clear``'s trip.
    """
    speech = report.bot_speech_s
    gap_per_min = report.gap_ms / speech * 60 if speech else math.nan
    per_stall = math.nan
    if stall_every_s:
        count = _stalls_in_speech(report, stall_every_s)
        per_stall = report.gap_ms / count if count else math.nan
    barge_in = report.barge_in_latencies_s[0] * 1000 if report.barge_in_latencies_s else math.nan
    error = at_truncate = math.nan
    spoke = next((t for t, what in report.events if what == f"speech starts: {BARGE_LABEL}"), None)
    clears = [t for t, what in report.events if what.startswith("clear (")]
    if spoke is not None:
        after = [i for i, t in enumerate(clears) if t >= spoke]
        cuts = [(at - report.started_at, data) for at, data in truncates if at - report.started_at >= spoke]
        if after and cuts:
            cut_at, cut = cuts[0]
            error = report.heard_at_clears[after[0]] / 8 - float(cut["audio_end_ms"])
            at_truncate = error - max(0.0, clears[after[0]] - cut_at) * 1000
    return CallResult(gap_per_min, report.gap_count, per_stall, barge_in, error, at_truncate, speech)


class StackUnderTest:
    """One stack's stand-in and bot process, kept for the whole run; it places one call at a time."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.spec = STACKS[name]
        self.standin = TruncateTimes()
        self.proc: Bot | None = None
        self.port = 0

    async def start(self) -> None:
        """Start the stand-in and the stack's process."""
        await self.standin.start()
        if self.spec.kind == "relay":
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(RELAY),
                "--realtime-url",
                self.standin.url,
                stdout=asyncio.subprocess.PIPE,
            )
            assert self.proc.stdout is not None
            self.port = int(await asyncio.wait_for(self.proc.stdout.readline(), 60))
        else:
            self.proc, self.port = await _start_bot(self.spec.kind, self.standin.url, extra_env=self.spec.env)

    async def stop(self) -> None:
        """Stop the process and the stand-in."""
        if self.proc is not None:
            await _stop_bot(self.proc)
        await self.standin.stop()

    async def call(self, network: NetworkConfig, quick: bool) -> CallResult:
        """Place one call through ``network`` and measure it."""
        first = len(self.standin.truncates)
        caller = SimulatedTwilioCaller(
            f"ws://127.0.0.1:{self.port}/ws", script(quick), network=network, linger_s=0.2 if quick else 0.5
        )
        report = await caller.run()
        await asyncio.sleep(0.1 if quick else 0.2)  # a truncate still in flight
        return measure(report, self.standin.truncates[first:], network.to_caller.stall_every_s)


async def run(stacks: list[str], conditions: dict[str, str], repeats: int, quick: bool) -> dict[str, Any]:
    """Every stack × condition × repeat; returns ``results[stack][condition] = [CallResult, ...]``."""
    under = [StackUnderTest(name) for name in stacks]
    await asyncio.gather(*(s.start() for s in under))
    results: dict[str, dict[str, list[CallResult]]] = {s: {c: [] for c in conditions} for s in stacks}
    try:
        if not quick:  # one unmeasured call each: the first call of a fresh process pays its warm-up
            await asyncio.gather(*(s.call(NetworkConfig(), quick) for s in under))
        for repeat in range(repeats):
            for condition, setting in conditions.items():
                text = ",".join(part for part in (setting, f"seed={repeat}") if part)
                network = NetworkConfig.parse(text)
                with LoopLag(period_s=0.005) as lag:  # callers, links and stand-ins share this loop
                    done = await asyncio.gather(*(s.call(network, quick) for s in under))
                for s, result in zip(under, done, strict=True):
                    result.loop_lag_ms = lag.max_ms
                    results[s.name][condition].append(result)
                await asyncio.sleep(0.1 if quick else 0.3)  # the bots tear the call down
    finally:
        await asyncio.gather(*(s.stop() for s in under))
    return results


def _median(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


FIGURES = (
    "gap_ms_per_min",
    "gap_count",
    "gap_ms_per_stall",
    "barge_in_ms",
    "truncation_error_ms",
    "error_at_truncate_ms",
    "loop_lag_ms",
)


def summarise(results: dict[str, dict[str, list[CallResult]]]) -> dict[str, dict[str, dict[str, float]]]:
    """Medians per stack × condition (``gap_ms_per_stall`` only for stall conditions)."""
    return {
        stack: {
            condition: {
                **{name: _median([float(getattr(r, name)) for r in calls]) for name in FIGURES},
                "calls": float(len(calls)),
                "bot_speech_s": _median([r.bot_speech_s for r in calls]),
            }
            for condition, calls in by_condition.items()
        }
        for stack, by_condition in results.items()
    }


def print_table(summary: dict[str, dict[str, dict[str, float]]]) -> None:
    """The one table: a row per stack × condition."""

    def cell(value: float, width: int, digits: int = 0) -> str:
        return f"{'-' if math.isnan(value) else f'{value:.{digits}f}':>{width}}"

    print(
        f"  {'stack':<14} {'network':<23} {'gap ms/min':>10} {'gaps':>5} {'gap ms/stall':>12} "
        f"{'barge-in ms':>11} {'trunc err ms':>12} {'at truncate':>11} {'speech s':>8} {'lag ms':>6}"
    )
    for stack, by_condition in summary.items():
        for condition, m in by_condition.items():
            print(
                f"  {stack:<14} {condition:<23} {cell(m['gap_ms_per_min'], 10)} {cell(m['gap_count'], 5)} "
                f"{cell(m['gap_ms_per_stall'], 12)} {cell(m['barge_in_ms'], 11)} "
                f"{cell(m['truncation_error_ms'], 12)} {cell(m['error_at_truncate_ms'], 11)} "
                f"{cell(m['bot_speech_s'], 8, 1)} {cell(m['loop_lag_ms'], 6)}"
            )


async def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short call per cell (smoke test, ~30 s)")
    parser.add_argument("--repeats", type=int, default=3, help="calls per stack × condition (median)")
    parser.add_argument("--stacks", default=",".join(STACKS), help="stacks, comma-separated")
    parser.add_argument("--conditions", default="", help="conditions, comma-separated (default: all)")
    parser.add_argument("--json", type=Path, help="also write the medians and every call's figures here")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    known = QUICK_CONDITIONS if args.quick else CONDITIONS
    stacks = [s for s in args.stacks.split(",") if s]
    asked = [c for c in args.conditions.split(",") if c] if args.conditions else list(known)
    unknown = [s for s in stacks if s not in STACKS] + [c for c in asked if c not in known]
    if unknown:
        parser.error(
            f"unknown stack or condition: {', '.join(unknown)} (stacks: {', '.join(STACKS)}; "
            f"conditions: {', '.join(known)})"
        )
    conditions = {c: known[c] for c in asked}
    repeats = 1 if args.quick else args.repeats
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    results = await run(stacks, conditions, repeats, args.quick)
    summary = summarise(results)
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
        f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after; {time.monotonic() - started:.0f} s"
    )
    for stack in stacks:
        print(f"  {stack:<14} {STACKS[stack].note}")
    print(
        f"\nnetwork: gaps, barge-in and truncation, median of {repeats} call(s) per cell "
        "(jitter on both directions, stalls bot -> caller)"
    )
    print_table(summary)
    if args.json:
        raw = {s: {c: [asdict(r) for r in calls] for c, calls in by.items()} for s, by in results.items()}
        document = {"stacks": stacks, "conditions": list(conditions), "summary": summary, "calls": raw}
        args.json.write_text(json.dumps(document, indent=1))


if __name__ == "__main__":
    asyncio.run(quick_forks_bots(main()))
