"""Capacity at the knee: concurrent calls go up until reply latency p99 passes 50 ms or callers hear gaps.

    python benchmarks/bench_capacity.py [--steps 8,16,24,32,48,64] [--seconds 20] [--stacks default,stock]
    python benchmarks/bench_capacity.py --quick

Each stack (``bench_stacks.STACKS``: ``default`` — the package's defaults —, ``lean``, ``stock``) runs
in its own bot process (``benchmarks/_bot_server.py``, started by ``bench_stacks``) against the Realtime
stand-in, one stack after the other, each step with a fresh process. The callers (``long`` scenario:
greeting, then question / reply turns without end) start 97 ms apart so each stand-in session can be
paired with its caller by the order of their greetings. Measured:

* added reply latency: a reply's first delta leaving the stand-in → its first ``media`` reaching that
  call's caller (``bench_stacks``' "out" latency, per call), p50 / p99 / max over every reply of the
  run, the greetings of calls arriving while the others talk included;
* gaps: silence the callers' playout had to insert inside bot speech (``CallerReport.gaps``), and
  bot CPU (share of one core, per call-minute): both for ``--seconds`` after all calls started + 2 s;
* driver: the share of a core this process (stand-in and callers) used: near 100 % it is the limit.

A stack's ramp stops at the first step past the knee (p99 > ``--p99-ms`` or any gap; a stack whose
first step is already over ``--p99-ms``, as stock's resamplers are, is held to its floor + that). Its
knee is the last step before that; calls per core divides it by the share of a core the bot process
used there. ``relay`` is the plain relay peer of ``benchmarks/_relay.py``. The stand-in and all callers
share this process: on a busy machine their delays count too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bench_stacks import (
    STACKS,
    Bot,
    TimedStandIn,
    _cpu_seconds,
    _out_latency,
    _start_bot,
    _stop_bot,
    quick_forks_bots,
)
from loguru import logger

from pipecat_twilio_realtime.cli.simulate import script_for
from pipecat_twilio_realtime.testing import SimulatedTwilioCaller, load_clip

STAGGER_S = 0.097
SETTLE_S = 2.0
RELAY = Path(__file__).resolve().parent / "_relay.py"


class PerCallStandIn(TimedStandIn):
    """The timed stand-in, also keeping each session's deltas apart (to pair them with their caller)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.by_call: dict[int, list[tuple[float, str]]] = {}

    async def _send(self, call: Any, model: Any) -> None:
        before = len(self.delta_sent)
        await super()._send(call, model)
        if len(self.delta_sent) > before:
            self.by_call.setdefault(id(call), []).append(self.delta_sent[-1])


@dataclass
class Step:
    """One stack at one number of concurrent calls."""

    stack: str
    calls: int
    latencies_ms: list[float] = field(default_factory=list)
    gaps: int = 0
    gap_ms: float = 0.0
    core_share: float = 0.0
    cpu_per_call_min: float = 0.0
    paired: int = 0
    driver_share: float = 0.0  # this process (stand-in + callers): when it saturates, the figures are its

    def p(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def past_knee(self, p99_ms: float) -> bool:
        return self.gaps > 0 or not self.latencies_ms or self.p(99) > p99_ms


def pair(standin: PerCallStandIn, callers: list[SimulatedTwilioCaller]) -> list[tuple[Any, Any]]:
    """Each stand-in session with its caller: the n-th greeting to leave with the n-th greeting heard."""
    sessions = sorted(standin.by_call.values(), key=lambda deltas: deltas[0][0])
    heard = sorted(
        (c for c in callers if c.report.media_received_at), key=lambda c: c.report.media_received_at[0][0]
    )
    return [
        (type("Deltas", (), {"delta_sent": s})(), c.report) for s, c in zip(sessions, heard, strict=False)
    ]


async def _start(stack: str, url: str) -> tuple[Bot, int]:
    """The stack's process: a bench_stacks bot, or the plain relay (``_relay.py``, as in bench_network)."""
    if stack != "relay":
        return await _start_bot(stack, url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(RELAY), "--realtime-url", url, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    return proc, int(await asyncio.wait_for(proc.stdout.readline(), 60))


async def step(stack: str, calls: int, seconds: float) -> Step:
    """``calls`` concurrent calls on a fresh bot process of ``stack``, measured for ``seconds``."""
    result = Step(stack, calls)
    script = script_for("long", load_clip("caller_question"), turns=1000)
    async with PerCallStandIn(speed=4.0) as standin:
        proc, port = await _start(stack, standin.url)
        try:
            callers = [SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script) for _ in range(calls)]
            tasks = []
            for caller in callers:
                tasks.append(asyncio.create_task(caller.run()))
                await asyncio.sleep(STAGGER_S)
            await asyncio.sleep(SETTLE_S)
            t0, cpu0, own0 = time.monotonic(), _cpu_seconds(proc.pid), time.process_time()
            gaps0 = [len(c.report.gaps) for c in callers]
            await asyncio.sleep(seconds)
            t1, cpu1, own1 = time.monotonic(), _cpu_seconds(proc.pid), time.process_time()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await _stop_bot(proc)
    for deltas, report in pair(standin, callers):  # every reply of the run, greetings included
        result.paired += 1
        result.latencies_ms += _out_latency(deltas, report)
    for caller, before in zip(callers, gaps0, strict=True):
        new = [ms for at, ms in caller.report.gaps[before:] if caller.report.started_at + at <= t1]
        result.gaps += len(new)
        result.gap_ms += sum(new)
    result.core_share = (cpu1 - cpu0) / (t1 - t0)
    result.driver_share = (own1 - own0) / (t1 - t0)
    result.cpu_per_call_min = (cpu1 - cpu0) / (calls * (t1 - t0) / 60)
    return result


def print_step(s: Step) -> None:
    print(
        f"  {s.stack:<9} {s.calls:>5} {s.p(50):>7.1f} {s.p(99):>7.1f} "
        f"{max(s.latencies_ms, default=float('nan')):>7.1f} {len(s.latencies_ms):>7} {s.gaps:>5} "
        f"{s.gap_ms:>7.0f} {s.core_share:>6.0%} {s.cpu_per_call_min:>9.2f} {s.paired:>6} "
        f"{s.driver_share:>6.0%}",
        flush=True,
    )


async def ramp(stack: str, steps: list[int], seconds: float, p99_ms: float) -> tuple[list[Step], float]:
    """Raise the calls until past the knee (or the last step); the steps and the bound used.

    A stack whose first step is already over ``p99_ms`` without gaps (stock: its resamplers hold audio
    back at any load) is held to its own floor instead: that p99 + ``p99_ms``.
    """
    done: list[Step] = []
    bound = p99_ms
    for calls in steps:
        done.append(await step(stack, calls, seconds))
        print_step(done[-1])
        first = done[0]
        if len(done) == 1 and first.gaps == 0 and first.latencies_ms and first.p(99) > p99_ms:
            bound = first.p(99) + p99_ms
            print(
                f"  {'':<9} (its floor is p99 {first.p(99):.1f} ms at {calls} calls: knee at {bound:.1f} ms)"
            )
        if done[-1].past_knee(bound):
            break
    return done, bound


def knee(steps: list[Step], p99_ms: float) -> Step | None:
    """The last step before the first one past the knee."""
    before = None
    for s in steps:
        if s.past_knee(p99_ms):
            break
        before = s
    return before


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="8,16,24,32,48,64", help="concurrent calls, in order")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per step")
    parser.add_argument(
        "--stacks", default="default,lean,stock,relay", help="bench_stacks stacks and relay, in order"
    )
    parser.add_argument("--p99-ms", type=float, default=50.0, help="the knee: added reply latency p99")
    parser.add_argument("--quick", action="store_true", help="a tiny run (smoke test)")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    steps = [int(n) for n in args.steps.split(",")]
    stacks = [s for s in args.stacks.split(",") if s]
    seconds = args.seconds
    if args.quick:
        steps, seconds, stacks = [2], 1.0, [s for s in stacks if s in ("default", "stock")]
    unknown = [s for s in stacks if s not in STACKS and s != "relay"]
    if unknown:
        parser.error(f"unknown stacks {unknown}; known: {', '.join(STACKS)}, relay")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.1f}")
    print(f"\ncapacity: added reply latency (first delta -> first media, per call), {seconds:g} s a step")
    print(
        f"  {'stack':<9} {'calls':>5} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'replies':>7} {'gaps':>5} "
        f"{'gap ms':>7} {'core':>6} {'cpu-s/min':>9} {'paired':>6} {'driver':>6}"
    )
    ramps = {stack: await ramp(stack, steps, seconds, args.p99_ms) for stack in stacks}
    print(f"\nknee (last step with p99 <= {args.p99_ms:g} ms, or the stack's floor + that, and no gaps)")
    for stack, (done, bound) in ramps.items():
        at = knee(done, bound)
        if at is None:
            print(f"  {stack:<9} past the knee at the first step ({done[0].calls} calls)")
            continue
        beyond = "" if at is not done[-1] else " (the last step: the knee is higher)"
        per_core = at.calls / at.core_share if at.core_share else float("nan")
        print(
            f"  {stack:<9} {at.calls} calls{beyond}: p99 {at.p(99):.1f} ms (bound {bound:.1f}), "
            f"bot {at.core_share:.0%} of a "
            f"core, {per_core:.0f} calls per core at that cost"
        )


if __name__ == "__main__":
    asyncio.run(quick_forks_bots(main()))
