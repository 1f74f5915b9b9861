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
   late frames (underruns: the caller's queued reply audio ran out more than 20 ms before the next
   ``media`` of the same reply), websocket messages per call-second on both sockets, and
   (``--count-pushes``) frame pushes per call-second. Medians of ``--repeats`` interleaved runs.
   The stacks (``LOAD_STACKS``): ``default`` (the package's defaults, as a user gets them:
   ``recommended_transport_params()``, MediaStatsObserver),
   ``lean`` (the documented lean configuration), ``ours-20ms`` (20 ms everywhere, the defaults before
   issue 15), stock, ``stock-lite`` (stock with our worker and aggregator advice: what that alone buys
   stock), and the floors: Pipecat's transport and pipeline with our serializer and observer
   and no service at all, caller audio played straight back for the same share of the time as ours
   talked in the same repetition, at the default's and the lean configuration's frame sizes. No stack
   built on Pipecat's transport at those frame sizes can cost less than its floor.
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
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _bot_fork import BotForker, ForkedBot
from loguru import logger

from pipecat_twilio_realtime import LEAN_INBOUND_FRAME_MS, g711
from pipecat_twilio_realtime.cli.simulate import bit_exact_fraction, script_for
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
    twilio_out_per_s: float = 0.0  # websocket messages per call-second, bot -> Twilio
    twilio_in_per_s: float = 0.0
    openai_out_per_s: float = 0.0  # bot -> OpenAI
    openai_in_per_s: float = 0.0
    pushes_per_s: float = 0.0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


@dataclass(frozen=True)
class Stack:
    """One benchmarked configuration: the bot kind and its ``_bot_server.py`` environment."""

    kind: str  # ours | stock | floor
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""


LEAN_ENV = {
    "BENCH_IN_FRAME_MS": str(LEAN_INBOUND_FRAME_MS),
    "BENCH_APPEND_MS": str(LEAN_INBOUND_FRAME_MS),
    "BENCH_WORKER": "lean",
}
BEFORE_15 = {  # the configuration before issue 15
    "BENCH_OUT_CHUNKS": "2",
    "BENCH_IN_FRAME_MS": "20",
    "BENCH_APPEND_MS": "20",
    "BENCH_MARK_MS": "100",
    "BENCH_PASSTHROUGH": "1",
    "BENCH_WORKER": "stock",
}
STACKS: dict[str, Stack] = {
    "default": Stack("ours", note="recommended: 100 ms out, 40 ms in, marks 500 ms, no RTVI"),
    "lean": Stack("ours", LEAN_ENV, f"the same, {LEAN_INBOUND_FRAME_MS} ms in + appends, no turn tracking"),
    "ours-20ms": Stack("ours", BEFORE_15, "20 ms everywhere, marks 100 ms, RTVI (before issue 15)"),
    "stock": Stack("stock", note="Pipecat defaults, 20 ms"),
    "stock-lite": Stack(
        "stock", {"BENCH_WORKER": "recommended"}, "stock + our worker/aggregator params (no RTVI)"
    ),
    "floor": Stack("floor", note="no service, default's sizes and params"),
    "floor-lean": Stack(
        "floor",
        {"BENCH_IN_FRAME_MS": str(LEAN_INBOUND_FRAME_MS), "BENCH_WORKER": "lean"},
        "no service, lean sizes and params",
    ),
}
"""Every stack the load runs know, by name."""


def _stack(name: str) -> Stack:
    return STACKS[name] if name in STACKS else Stack(name)


Bot = asyncio.subprocess.Process | ForkedBot
FORKER: BotForker | None = None
"""Set (``forked_bots()``): bots are forked from a process that imported Pipecat once (``--quick``)."""


@asynccontextmanager
async def forked_bots() -> AsyncIterator[None]:
    """While inside, ``_start_bot`` forks its bots (``_bot_fork.py``) instead of starting interpreters."""
    global FORKER
    async with BotForker() as forker:
        FORKER = forker
        try:
            yield
        finally:
            FORKER = None


async def quick_forks_bots(main: Awaitable[None]) -> None:
    """Run a benchmark's ``main()``; with ``--quick`` (the smoke tests) inside ``forked_bots()``."""
    if "--quick" not in sys.argv[1:]:
        await main
        return
    async with forked_bots():
        await main


async def _start_bot(
    stack: str, url: str, duty: float = 1.0, extra_env: dict[str, str] | None = None
) -> tuple[Bot, int]:
    spec = _stack(stack)
    args = ["--stack", spec.kind, "--label", stack, "--realtime-url", url]
    env = {**os.environ, **spec.env, **(extra_env or {}), "FLOOR_DUTY": f"{duty:.4f}"}
    proc: Bot
    if FORKER is not None:
        proc = await FORKER.start(SERVER, *args, env=env)
    else:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(SERVER), *args, stdout=asyncio.subprocess.PIPE, env=env
        )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    return proc, int(line)


async def _stop_bot(proc: Bot) -> None:
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
    """Underrun fraction and p99 gap between consecutive ``media`` within a reply (< 0.5 s apart).

    An arrival is late when the audio the caller still had queued ran out more than 20 ms before it
    (the messages are paced ahead of real time, so a gap longer than one message is not an underrun
    by itself).
    """
    gaps: list[float] = []
    late = 0
    queued_ms = 0.0
    previous: float | None = None
    for at, size in report.media_received_at:
        if previous is not None and at - previous < 0.5:
            gap = (at - previous) * 1000
            gaps.append(gap)
            queued_ms -= gap
            late += queued_ms < -20
        else:
            queued_ms = 0.0
        queued_ms = max(queued_ms, 0.0) + size / 8
        previous = at
    if not gaps:
        return 0.0, 0.0
    return late / len(gaps), _pct(gaps, 99)


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
    ours = _stack(stack).kind == "ours"
    run.in_ms = _in_latency(standin, report, 1.0 if ours else 6.0)
    run.up_bps, run.down_bps = standin.rx_text / seconds, standin.tx_text / seconds
    received = bytes(report.received_audio)
    if ours:
        run.exact = bit_exact_fraction(received, standin.reply_audio)
    greeting = load_clip("bot_greeting")
    run.snr_db = _snr(received[: len(greeting) + 4000], greeting)
    return run


LOAD_STACKS = ("default", "lean", "ours-20ms", "stock", "stock-lite", "floor", "floor-lean")
"""The stacks of the load runs, in the order they run (and are printed); the first one sets the floors'
talking share."""


def _read_pushes(path: Path) -> int:
    """The total of a ``BENCH_COUNT_FRAMES`` file (and remove it)."""
    if not path.exists():
        return 0
    total = sum(int(line.split()[0]) for line in path.read_text().splitlines())
    path.unlink()
    return total


def _message_counts(standin: TimedStandIn, callers: list[SimulatedTwilioCaller]) -> tuple[int, int, int, int]:
    """Websocket messages so far: bot -> Twilio, Twilio -> bot, bot -> OpenAI, OpenAI -> bot."""
    return (
        sum(c.report.messages_received for c in callers),
        sum(c.report.messages_sent for c in callers),
        len(standin.received),
        len(standin.sent),
    )


async def load(
    stack: str,
    calls: int,
    seconds: float,
    duty: float = 1.0,
    count_pushes: bool = False,
    extra_env: dict[str, str] | None = None,
) -> StackRun:
    """``calls`` concurrent calls for ``seconds``: bot CPU per call-minute, late frames, messages.

    ``duty`` is the floors' talking share (the other stacks ignore it). With ``count_pushes`` the bot
    counts every frame push (that costs CPU: do not read that run's CPU figure).
    """
    run = StackRun()
    kind = _stack(stack).kind
    counts_file = Path(f"/tmp/bench-pushes-{os.getpid()}")
    extra = dict(extra_env or {})
    if count_pushes:
        extra["BENCH_COUNT_FRAMES"] = str(counts_file)
    async with TimedStandIn(speed=4.0) as standin:
        proc, port = await _start_bot(stack, standin.url, duty, extra)
        try:
            script = script_for("long", load_clip("caller_question"), turns=100)
            callers = [SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script) for _ in range(calls)]
            tasks = [asyncio.create_task(c.run()) for c in callers]
            await asyncio.sleep(1.0)  # calls set up
            cpu0, t0, run.rss_start_mb = _cpu_seconds(proc.pid), time.monotonic(), _rss_mb(proc.pid)
            heard0 = sum(c.report.ulaw_bytes_received for c in callers)
            messages0 = _message_counts(standin, callers)
            await asyncio.sleep(seconds)
            cpu1, t1, run.rss_end_mb = _cpu_seconds(proc.pid), time.monotonic(), _rss_mb(proc.pid)
            messages1 = _message_counts(standin, callers)
            heard = sum(c.report.ulaw_bytes_received for c in callers) - heard0
            call_seconds = calls * (t1 - t0)
            run.talk_share = heard / (call_seconds * 8000)
            run.twilio_out_per_s, run.twilio_in_per_s, run.openai_out_per_s, run.openai_in_per_s = (
                (b - a) / call_seconds for a, b in zip(messages0, messages1, strict=True)
            )
            sent = sum(c.report.ulaw_bytes_sent for c in callers)
            await asyncio.sleep(0.3)  # the last frames in flight
            if kind == "floor":  # no OpenAI socket: the floor plays caller audio back instead
                run.caller_bytes_lost = float("nan")
            else:
                appended = len(standin.appended_audio) / (6 if kind == "stock" else 1)
                run.caller_bytes_lost = max(0.0, 1 - appended / sent) if sent else 0.0
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            whole_call_seconds = time.monotonic() - t0 + 1.0
        finally:
            await _stop_bot(proc)
    if count_pushes:
        run.pushes_per_s = _read_pushes(Path(f"{counts_file}.{stack}")) / (calls * whole_call_seconds)
    run.cpu_per_call_min = (cpu1 - cpu0) / (calls * (t1 - t0) / 60)
    late = [_gaps(c.report) for c in callers]
    run.late_fraction = statistics.mean(f for f, _ in late)
    run.gap_p99_ms = max(g for _, g in late)
    return run


async def main() -> None:
    """Run both stacks and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (for smoke tests)")
    parser.add_argument("--calls", default="1,4,8", help="concurrent calls for the CPU runs")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per CPU run")
    parser.add_argument("--turns", type=int, default=6, help="caller questions in the latency run")
    parser.add_argument("--load-only", action="store_true", help="only the load runs (section 2)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per figure (median)")
    parser.add_argument("--stacks", default=",".join(LOAD_STACKS), help="load stacks, comma-separated")
    parser.add_argument(
        "--count-pushes", action="store_true", help="one more run per stack counting frame pushes"
    )
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    calls = [1] if args.quick else [int(n) for n in args.calls.split(",")]
    # --quick is the smoke test: every path, the shortest calls, the stacks of a step side by side
    seconds = 1.0 if args.quick else args.seconds
    turns = 0 if args.quick else args.turns

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    repeats = 1 if args.quick else args.repeats
    if not args.load_only:
        await _latency_report(turns, repeats, together=args.quick)
    stacks = [name for name in args.stacks.split(",") if name]
    if args.quick:  # the smoke test: three stacks, pushes counted in the load runs themselves
        stacks = [name for name in stacks if name in ("default", "stock", "floor")]
    await _load_report(
        calls, seconds, repeats, stacks, args.count_pushes, inline_pushes=args.quick, together=args.quick
    )


async def _latency_report(turns: int, repeats: int, together: bool = False) -> None:
    """Section 1, 3 and 4; ``together`` runs the stacks' calls at once (their figures then mean little)."""
    runs: dict[str, list[StackRun]] = {"default": [], "lean": [], "stock": []}
    for _ in range(repeats):  # interleaved: ours (package defaults), lean, stock, ours, ...
        if together:
            done_now = await asyncio.gather(*(latency_and_fidelity(stack, turns) for stack in runs))
            for done, run in zip(runs.values(), done_now, strict=True):
                done.append(run)
            continue
        for stack, done in runs.items():
            done.append(await latency_and_fidelity(stack, turns))
    runs["ours"] = runs.pop("default")

    def med(stack: str, figure: Any) -> float:
        return statistics.median(figure(r) for r in runs[stack])

    def row(name: str, figure: Any, unit: str = "ms") -> None:
        ours, lean, stock = med("ours", figure), med("lean", figure), med("stock", figure)
        ratio = ours / stock if stock else float("nan")
        print(f"  {name:<40} {ours:10.2f} {lean:10.2f} {stock:10.2f}  {unit:<4} ours/stock {ratio:6.2f}")

    print(f"\n1. added latency, one call, greeting + {turns} turns, median of {repeats} runs")
    print(f"  {'':<40} {'ours':>10} {'lean':>10} {'stock':>10}")
    row("out: first delta -> first media  p50", lambda r: _pct(r.out_ms, 50))
    row("out: first delta -> first media  p99", lambda r: _pct(r.out_ms, 99))
    row("out: first delta -> first media  max", lambda r: max(r.out_ms))
    row("in: caller media -> append       p50", lambda r: _pct(r.in_ms, 50))
    row("in: caller media -> append       p99", lambda r: _pct(r.in_ms, 99))
    row("in: caller media -> append       max", lambda r: max(r.in_ms))
    o, lean, s = runs["ours"][0], runs["lean"][0], runs["stock"][0]
    print(
        f"   (samples per run: out {len(o.out_ms)}/{len(lean.out_ms)}/{len(s.out_ms)} replies, "
        f"in {len(o.in_ms)}/{len(lean.in_ms)}/{len(s.in_ms)} appends)"
    )
    print("\n3. OpenAI socket, bytes of websocket text per call-second")
    row("client -> OpenAI", lambda r: r.up_bps, "B/s")
    row("OpenAI -> client", lambda r: r.down_bps, "B/s")
    print("\n4. fidelity")
    for name in ("ours", "lean"):
        exact = [r.exact for r in runs[name] if r.exact is not None]
        print(
            f"  {name}: {min(exact):.2%} of received bytes identical to what OpenAI sent "
            f"(worst of {len(exact)} runs)"
        )
    print(
        f"  SNR of the greeting as heard vs the clip: ours {med('ours', lambda r: r.snr_db):.1f} dB, "
        f"lean {med('lean', lambda r: r.snr_db):.1f} dB, stock {med('stock', lambda r: r.snr_db):.1f} dB"
    )


async def _load_report(
    calls: list[int],
    seconds: float,
    repeats: int,
    stacks: list[str],
    count_pushes: bool,
    inline_pushes: bool = False,
    together: bool = False,
) -> None:
    """Section 2; ``together`` runs the stacks after the pacer at once (their CPU figures mean little)."""
    print(f"\n2. load: bot process CPU per call-minute and late frames, median of {repeats} interleaved runs")
    for name in stacks:
        print(f"  {name:<12} {_stack(name).note}")
    print(
        f"  {'calls':>5}  {'stack':<12} {'cpu-s/min':>9} {'(min-max)':>12} {'x stock':>8} {'calls/core':>10} "
        f"{'late':>7} {'gap p99':>8} {'bot talks':>9} {'RSS start->end':>15} {'caller audio lost':>18}"
    )
    pacer = next((name for name in stacks if _stack(name).kind == "ours"), None)
    messages: dict[str, list[StackRun]] = {}
    for n in calls:
        runs: dict[str, list[StackRun]] = {stack: [] for stack in stacks}

        async def one(stack: str, n: int = n, runs: dict[str, list[StackRun]] = runs) -> StackRun:
            duty = runs[pacer][-1].talk_share if pacer and runs[pacer] else 0.6
            return await load(stack, n, seconds, duty, count_pushes=inline_pushes)

        ahead = stacks[: stacks.index(pacer) + 1] if together and pacer else stacks
        for _ in range(repeats):
            for stack in ahead:  # an "ours" stack runs first: the floors talk as much as it did
                runs[stack].append(await one(stack))
            later = [stack for stack in stacks if stack not in ahead]
            for stack, run in zip(later, await asyncio.gather(*(one(s) for s in later)), strict=True):
                runs[stack].append(run)
        messages = runs
        cpu = {stack: [r.cpu_per_call_min for r in rs] for stack, rs in runs.items()}
        cpu_median = {stack: statistics.median(values) for stack, values in cpu.items()}
        stock_cpu = cpu_median.get("stock", float("nan"))
        for stack, rs in runs.items():
            lost = statistics.median(r.caller_bytes_lost for r in rs)
            print(
                f"  {n:>5}  {stack:<12} {cpu_median[stack]:>9.2f} "
                f"{f'({min(cpu[stack]):.2f}-{max(cpu[stack]):.2f})':>12} "
                f"{cpu_median[stack] / stock_cpu:>8.2f} "
                f"{60 / cpu_median[stack]:>10.0f} "
                f"{statistics.median(r.late_fraction for r in rs):>7.2%} "
                f"{max(r.gap_p99_ms for r in rs):>6.1f}ms "
                f"{statistics.median(r.talk_share for r in rs):>9.0%} "
                f"{f'{rs[0].rss_start_mb:.0f}->{rs[-1].rss_end_mb:.0f} MB':>15} "
                f"{'n/a' if math.isnan(lost) else f'{lost:.2%}':>18}"
            )
    print(f"\n   websocket messages per call-second ({calls[-1]} calls, median of the runs above)")
    header = f"  {'stack':<12} {'to Twilio':>10} {'from Twilio':>12} {'to OpenAI':>10} {'from OpenAI':>12}"
    pushes: dict[str, float] = {}
    if inline_pushes:
        header += f" {'frame pushes':>13}"
        pushes = {stack: statistics.median(r.pushes_per_s for r in rs) for stack, rs in messages.items()}
    elif count_pushes:  # one more run per stack with a push counter in the bot (its CPU is not read)
        header += f" {'frame pushes':>13}"
        for stack in stacks:
            pushes[stack] = (await load(stack, 1, min(seconds, 10.0), 0.6, count_pushes=True)).pushes_per_s
    print(header)
    for stack, rs in messages.items():

        def med(figure: Any, rs: list[StackRun] = rs) -> float:
            return statistics.median(figure(r) for r in rs)

        line = (
            f"  {stack:<12} {med(lambda r: r.twilio_out_per_s):>10.1f} "
            f"{med(lambda r: r.twilio_in_per_s):>12.1f} "
            f"{med(lambda r: r.openai_out_per_s):>10.1f} {med(lambda r: r.openai_in_per_s):>12.1f}"
        )
        if stack in pushes:
            line += f" {pushes[stack]:>13.0f}"
        print(line)


if __name__ == "__main__":
    asyncio.run(quick_forks_bots(main()))
