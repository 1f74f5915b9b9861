"""Our stack beside stock Pipecat's, full pipelines over real loopback websockets, in one run.

    python benchmarks/bench_stacks.py [--quick] [--calls 1,4,8] [--seconds 20] [--turns 6]

ours:  TwilioMediaStreamSerializer + OpenAIRealtimeMuLawLLMService, μ-law to OpenAI, pipeline at 8 kHz.
stock: TwilioFrameSerializer + OpenAIRealtimeLLMService, Pipecat's defaults (24 kHz PCM to OpenAI), 8 kHz
       pipeline as Pipecat's Twilio examples run it: its service resamples 8->24 kHz in, the output
       transport resamples 24->8 kHz out.

The bot runs in its own process (benchmarks/_bot_server.py) so its CPU time is measured alone; the OpenAI
stand-in and the simulated Twilio callers run here and share one clock with each other:

1. added latency — out: a reply's first delta leaving the stand-in → its first Twilio ``media`` reaching
   the caller; in: a caller ``media`` leaving → the ``input_audio_buffer.append`` carrying its first
   sample reaching the stand-in (so audio a resampler holds back counts). p50/p99/max.
2. CPU seconds of the bot process per call-minute, N concurrent calls (caller talking and bot replying),
   and late frames: gaps over 40 ms between consecutive outbound ``media`` within a reply. Medians of
   ``--repeats`` interleaved runs. Two more stacks run beside ours and stock's here: ours with
   ``audio_passthrough=False``, and the floor (``_bot_server.py --stack floor``): Pipecat's transport and
   pipeline with no service at all, caller frames played straight back for the same share of the time as
   ours talked in the same repetition. No stack built on Pipecat's transport at 20 ms frames can cost
   less than the floor.
3. bytes of websocket text on the OpenAI socket per call-second, each way.
4. fidelity: fraction of received bytes identical to the stand-in's (ours); SNR of what reached the
   caller against the clip the stand-in played (stock: its 24 kHz replies are that clip sample-repeated).
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
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger

from pipecat_twilio_realtime import g711
from pipecat_twilio_realtime.simulate import bit_exact_fraction, script_for
from pipecat_twilio_realtime.testing import CallerReport, RealtimeStandIn, SimulatedTwilioCaller, load_clip

SERVER = Path(__file__).resolve().parent / "_bot_server.py"
TICK = os.sysconf("SC_CLK_TCK")


class TimedStandIn(RealtimeStandIn):
    """The stand-in, recording when each reply delta left and each append arrived, and text sizes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta_sent: list[tuple[float, str]] = []
        self.appends: list[tuple[float, int]] = []  # (arrival, bytes)
        self.rx_text = 0
        self.tx_text = 0

    async def _send(self, call: Any, model: Any) -> None:
        await super()._send(call, model)
        event = self.sent[-1]
        self.tx_text += len(json.dumps(event))
        if event["type"] == "response.output_audio.delta":
            self.delta_sent.append((time.monotonic(), event["item_id"]))

    async def _on_message(self, call: Any, message: str | bytes) -> None:
        self.rx_text += len(message)
        await super()._on_message(call, message)

    async def _on_append(self, call: Any, audio_b64: str) -> None:
        self.appends.append((time.monotonic(), len(audio_b64) * 3 // 4 - audio_b64.count("=")))
        await super()._on_append(call, audio_b64)


@dataclass
class StackRun:
    """What one stack did in one measurement."""

    out_ms: list[float] = field(default_factory=list)
    in_ms: list[float] = field(default_factory=list)
    cpu_per_call_min: float = 0.0
    late_fraction: float = 0.0
    gap_p99_ms: float = 0.0
    up_bps: float = 0.0
    down_bps: float = 0.0
    exact: float | None = None
    snr_db: float | None = None
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    caller_bytes_lost: float = 0.0
    talk_share: float = 0.0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def _start_bot(stack: str, url: str, duty: float = 1.0) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SERVER),
        "--stack",
        stack,
        "--realtime-url",
        url,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "FLOOR_DUTY": f"{duty:.4f}"},
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    return proc, int(line)


async def _stop_bot(proc: asyncio.subprocess.Process) -> None:
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 3)
    except TimeoutError:  # a pipeline still draining: the measurement is over anyway
        proc.kill()
        await proc.wait()


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _out_latency(standin: TimedStandIn, report: CallerReport) -> list[float]:
    firsts: dict[str, float] = {}
    for sent_at, item in standin.delta_sent:
        firsts.setdefault(item, sent_at)
    received = [t for t, _ in report.media_received_at]
    out = []
    for sent_at in sorted(firsts.values()):
        later = [t for t in received if t >= sent_at]
        if later:
            out.append((later[0] - sent_at) * 1000)
    return out


def _in_latency(standin: TimedStandIn, report: CallerReport, bytes_per_8k_sample: float) -> list[float]:
    sent = report.media_sent_at
    total = 0
    out = []
    for arrived, size in standin.appends:
        first_sample = int(total / bytes_per_8k_sample)  # the oldest sample this append carries
        total += size
        chunk = first_sample // 160
        if 0 <= chunk < len(sent):
            out.append((arrived - sent[chunk]) * 1000)
    return out


def _gaps(report: CallerReport) -> tuple[float, float]:
    times = [t for t, _ in report.media_received_at]
    gaps = [(b - a) * 1000 for a, b in pairwise(times) if b - a < 0.5]
    if not gaps:
        return 0.0, 0.0
    return sum(g > 40 for g in gaps) / len(gaps), _pct(gaps, 99)


def _snr(received: bytes, clip: bytes) -> float:
    """SNR (dB) of the received reply against the clip, at the best alignment."""
    ref = np.frombuffer(g711.decode(clip), "<i2").astype(np.float64)
    rec = np.frombuffer(g711.decode(received), "<i2").astype(np.float64)
    if len(rec) < len(ref):
        return float("nan")
    corr = np.correlate(rec[: len(ref) + 800], ref[:4000], mode="valid")
    lag = int(np.argmax(corr))
    aligned = rec[lag : lag + len(ref)]
    noise = aligned - ref[: len(aligned)]
    if not np.any(noise):
        return float("inf")  # bit-exact
    return float(10 * np.log10(np.sum(ref[: len(aligned)] ** 2) / np.sum(noise**2)))


async def latency_and_fidelity(stack: str, turns: int) -> StackRun:
    """One call, greeting + ``turns`` questions: latency both ways, bandwidth and fidelity."""
    run = StackRun()
    async with TimedStandIn(speed=4.0) as standin:
        proc, port = await _start_bot(stack, standin.url)
        try:
            script = script_for("long", load_clip("caller_question"), turns=turns)
            started = time.monotonic()
            report = await SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script).run()
            seconds = time.monotonic() - started
        finally:
            await _stop_bot(proc)
    run.out_ms = _out_latency(standin, report)
    run.in_ms = _in_latency(standin, report, 1.0 if stack == "ours" else 6.0)
    run.up_bps, run.down_bps = standin.rx_text / seconds, standin.tx_text / seconds
    received = bytes(report.received_audio)
    if stack == "ours":
        run.exact = bit_exact_fraction(received, standin.reply_audio)
    greeting = load_clip("bot_greeting")
    run.snr_db = _snr(received[: len(greeting) + 4000], greeting)
    return run


LOAD_STACKS = ("ours", "ours-no-passthrough", "stock", "floor")
"""The stacks of the load runs, in the order they run (and are printed)."""


async def load(stack: str, calls: int, seconds: float, duty: float = 1.0) -> StackRun:
    """``calls`` concurrent calls for ``seconds``: bot CPU per call-minute and late frames.

    ``duty`` is the floor's talking share (the other stacks ignore it).
    """
    run = StackRun()
    async with TimedStandIn(speed=4.0) as standin:
        proc, port = await _start_bot(stack, standin.url, duty)
        try:
            script = script_for("long", load_clip("caller_question"), turns=100)
            callers = [SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script) for _ in range(calls)]
            tasks = [asyncio.create_task(c.run()) for c in callers]
            await asyncio.sleep(1.0)  # calls set up
            cpu0, t0, run.rss_start_mb = _cpu_seconds(proc.pid), time.monotonic(), _rss_mb(proc.pid)
            heard0 = sum(c.report.ulaw_bytes_received for c in callers)
            await asyncio.sleep(seconds)
            cpu1, t1, run.rss_end_mb = _cpu_seconds(proc.pid), time.monotonic(), _rss_mb(proc.pid)
            heard = sum(c.report.ulaw_bytes_received for c in callers) - heard0
            run.talk_share = heard / (calls * (t1 - t0) * 8000)
            sent = sum(c.report.ulaw_bytes_sent for c in callers)
            await asyncio.sleep(0.3)  # the last frames in flight
            if stack == "floor":  # no OpenAI socket: the floor plays caller audio back instead
                run.caller_bytes_lost = float("nan")
            else:
                appended = len(standin.appended_audio) / (6 if stack == "stock" else 1)
                run.caller_bytes_lost = max(0.0, 1 - appended / sent) if sent else 0.0
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await _stop_bot(proc)
    run.cpu_per_call_min = (cpu1 - cpu0) / (calls * (t1 - t0) / 60)
    late = [_gaps(c.report) for c in callers]
    run.late_fraction = statistics.mean(f for f, _ in late)
    run.gap_p99_ms = max(g for _, g in late)
    return run


def _row(name: str, ours: float, stock: float, unit: str, better_low: bool = True) -> None:
    ratio = ours / stock if stock else float("nan")
    print(f"  {name:<44} {ours:10.2f} {stock:10.2f}  {unit:<8} ours/stock {ratio:6.2f}")


async def main() -> None:
    """Run both stacks and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (for smoke tests)")
    parser.add_argument("--calls", default="1,4,8", help="concurrent calls for the CPU runs")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per CPU run")
    parser.add_argument("--turns", type=int, default=6, help="caller questions in the latency run")
    parser.add_argument("--load-only", action="store_true", help="only the load runs (section 2)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per figure (median)")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    calls = [1] if args.quick else [int(n) for n in args.calls.split(",")]
    seconds = 4.0 if args.quick else args.seconds
    turns = 1 if args.quick else args.turns

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    repeats = 1 if args.quick else args.repeats
    if not args.load_only:
        await _latency_report(turns, repeats)
    await _load_report(calls, seconds, repeats)


async def _latency_report(turns: int, repeats: int) -> None:
    runs: dict[str, list[StackRun]] = {"ours": [], "stock": []}
    for _ in range(repeats):  # interleaved: ours, stock, ours, stock, ...
        for stack, done in runs.items():
            done.append(await latency_and_fidelity(stack, turns))

    def med(stack: str, figure: Any) -> float:
        return statistics.median(figure(r) for r in runs[stack])

    def row(name: str, figure: Any, unit: str = "ms") -> None:
        _row(name, med("ours", figure), med("stock", figure), unit)

    print(f"\n1. added latency, one call, greeting + {turns} turns, median of {repeats} runs")
    print(f"  {'':<44} {'ours':>10} {'stock':>10}")
    row("out: first delta -> first media  p50", lambda r: _pct(r.out_ms, 50))
    row("out: first delta -> first media  p99", lambda r: _pct(r.out_ms, 99))
    row("out: first delta -> first media  max", lambda r: max(r.out_ms))
    row("in: caller media -> append       p50", lambda r: _pct(r.in_ms, 50))
    row("in: caller media -> append       p99", lambda r: _pct(r.in_ms, 99))
    row("in: caller media -> append       max", lambda r: max(r.in_ms))
    o, s = runs["ours"][0], runs["stock"][0]
    print(
        f"   (samples per run: out {len(o.out_ms)}/{len(s.out_ms)} replies, "
        f"in {len(o.in_ms)}/{len(s.in_ms)} appends)"
    )
    print("\n3. OpenAI socket, bytes of websocket text per call-second")
    row("client -> OpenAI", lambda r: r.up_bps, "B/s")
    row("OpenAI -> client", lambda r: r.down_bps, "B/s")
    print("\n4. fidelity")
    exact = [r.exact for r in runs["ours"] if r.exact is not None]
    print(
        f"  ours: {min(exact):.2%} of received bytes identical to what OpenAI sent "
        f"(worst of {len(exact)} runs)"
    )
    print(
        f"  SNR of the greeting as heard vs the clip: ours {med('ours', lambda r: r.snr_db):.1f} dB, "
        f"stock {med('stock', lambda r: r.snr_db):.1f} dB"
    )


async def _load_report(calls: list[int], seconds: float, repeats: int) -> None:
    print(f"\n2. load: bot process CPU per call-minute and late frames, median of {repeats} interleaved runs")
    print(
        f"  {'calls':>5}  {'stack':<20} {'cpu-s/min':>9} {'(min-max)':>12} {'x stock':>8} "
        f"{'late':>7} {'gap p99':>8} {'bot talks':>9} {'RSS start->end':>15} {'caller audio lost':>18}"
    )
    for n in calls:
        runs: dict[str, list[StackRun]] = {stack: [] for stack in LOAD_STACKS}
        for _ in range(repeats):
            for stack in LOAD_STACKS:  # "ours" runs first: the floor talks as much as it did
                runs[stack].append(
                    await load(stack, n, seconds, runs["ours"][-1].talk_share if runs["ours"] else 1)
                )
        cpu = {stack: [r.cpu_per_call_min for r in rs] for stack, rs in runs.items()}
        cpu_median = {stack: statistics.median(values) for stack, values in cpu.items()}
        stock_cpu = cpu_median["stock"]
        for stack, rs in runs.items():
            lost = statistics.median(r.caller_bytes_lost for r in rs)
            print(
                f"  {n:>5}  {stack:<20} {cpu_median[stack]:>9.2f} "
                f"{f'({min(cpu[stack]):.2f}-{max(cpu[stack]):.2f})':>12} "
                f"{cpu_median[stack] / stock_cpu:>8.2f} "
                f"{statistics.median(r.late_fraction for r in rs):>7.2%} "
                f"{max(r.gap_p99_ms for r in rs):>6.1f}ms "
                f"{statistics.median(r.talk_share for r in rs):>9.0%} "
                f"{f'{rs[0].rss_start_mb:.0f}->{rs[-1].rss_end_mb:.0f} MB':>15} "
                f"{'n/a' if math.isnan(lost) else f'{lost:.2%}':>18}"
            )
        print(
            f"         calls per core if CPU were the only limit: "
            f"ours {60 / cpu_median['ours']:.0f}, stock {60 / stock_cpu:.0f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
