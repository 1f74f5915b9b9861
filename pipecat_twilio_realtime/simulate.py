"""The offline call: the example bot, a local OpenAI Realtime stand-in and a simulated Twilio caller.

    python -m pipecat_twilio_realtime.simulate [--scenario plain|barge-in|long] [--caller-wav FILE]
                                               [--out out/heard.wav] [--bot examples/twilio_bot/bot.py]
                                               [--url ws://HOST/ws] [--real-openai]

With no credentials and no network it starts the real example bot app (``--bot``: any module with
``load_settings(env)`` and ``create_app(settings)``) on 127.0.0.1, points its OpenAI Realtime URL at
:class:`~pipecat_twilio_realtime.testing.RealtimeStandIn`, and calls it with
:class:`~pipecat_twilio_realtime.testing.SimulatedTwilioCaller`, exactly as Twilio Media Streams would.
It then writes what the caller heard as a WAV, prints the bot's call summary and a verdict: speech or
noise, bytes bit-exact or not, barge-in latency. The exit status is 0 only for a clean call.

``--url`` calls your own bot's media-stream websocket instead (the verdict then covers noise and
protocol only). ``--real-openai`` keeps the example bot but talks to the real OpenAI Realtime API
(needs ``OPENAI_API_KEY`` and network).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from loguru import logger

from .noise import NoiseDetector
from .testing.clips import load_clip
from .testing.realtime_server import RealtimeStandIn
from .testing.twilio_caller import (
    CallerReport,
    Segment,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    WaitForBotSilence,
    load_wav_as_ulaw,
)

__all__ = ["SimulationResult", "bit_exact_fraction", "main", "run_simulation", "script_for"]

DEFAULT_BOT = Path("examples/twilio_bot/bot.py")
SCENARIOS = ("plain", "barge-in", "long")


@dataclass
class SimulationResult:
    """The outcome of one simulated call.

    Parameters:
        report: The simulated Twilio side's report.
        summary: The bot's ``MediaStatsObserver`` summary (when the bot ran in this process).
        noise: Noise reasons found in what the caller heard.
        bit_exact: Fraction of received bytes identical to what the Realtime stand-in sent (offline only).
        wav_path: Where the heard audio was written.
        problems: Why the call is not clean (empty when it is).
    """

    report: CallerReport
    summary: dict[str, Any] | None = None
    noise: list[str] = field(default_factory=list)
    bit_exact: float | None = None
    wav_path: Path | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the call was clean: speech, exact bytes, no protocol violation."""
        return not self.problems


def script_for(scenario: str, question: bytes, *, turns: int = 4) -> list[Segment]:
    """The caller's script for a scenario.

    Args:
        scenario: ``plain`` (greeting, one question, one answer), ``barge-in`` (talks over the answer)
            or ``long`` (``turns`` questions in a row).
        question: The caller's speech, μ-law 8000 Hz.
        turns: Questions in the ``long`` scenario.

    Returns:
        The segments.
    """
    greeting: list[Segment] = [WaitForBotAudio(after_s=0.2), WaitForBotSilence()]
    turn: list[Segment] = [
        Speech(question, "question"),
        WaitForBotAudio(after_s=0.2, timeout_s=8.0),
        WaitForBotSilence(),
    ]
    if scenario == "plain":
        return greeting + turn
    if scenario == "barge-in":
        interrupt = Speech(load_clip("caller_interrupt"), "talks over the bot")
        return [*greeting, Speech(question, "question"), WaitForBotAudio(after_s=1.0), interrupt, *turn[1:]]
    if scenario == "long":
        return greeting + turn * turns
    raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")


def bit_exact_fraction(received: bytes, produced: bytes, chunk: int = 160) -> float:
    """Fraction of ``received`` found, chunk by chunk and in order, in ``produced`` (0x7F taken as 0xFF).

    Audio flushed by a barge-in is skipped over; the last partial chunk of each reply, which Pipecat's
    output transport pads with silence (0xFF), counts when its unpadded part matches.

    Args:
        received: μ-law bytes the caller received.
        produced: μ-law bytes the Realtime server sent.
        chunk: Bytes per comparison (one 20 ms message).

    Returns:
        A fraction from 0 to 1 (1 for nothing received).
    """
    produced = produced.replace(b"\x7f", b"\xff")
    received = received.replace(b"\x7f", b"\xff")
    position = matched = 0
    for i in range(0, len(received), chunk):
        piece = received[i : i + chunk]
        found = produced.find(piece, position)
        if found < 0:
            body = piece.rstrip(b"\xff")
            found = produced.find(body, position) if body else position
            if found < 0:
                continue
            piece = body
        matched += len(received[i : i + chunk])
        position = found + len(piece)
    return matched / len(received) if received else 1.0


def _load_bot(path: Path) -> ModuleType:
    if not path.is_file():
        raise SystemExit(
            f"error: no bot at {path}. Run this from a clone of the repository (the example bot is "
            "examples/twilio_bot/bot.py), pass --bot PATH to a module with load_settings() and create_app(), "
            "or --url ws://HOST/ws to call a running bot."
        )
    spec = importlib.util.spec_from_file_location("pipecat_twilio_realtime_simulated_bot", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"error: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    sys.path.insert(0, str(path.parent.resolve()))
    spec.loader.exec_module(module)
    for name in ("load_settings", "create_app"):
        if not hasattr(module, name):
            raise SystemExit(f"error: {path} has no {name}()")
    return module


@contextlib.asynccontextmanager
async def _serve(app: Any) -> AsyncIterator[int]:
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(15):
            while not server.started:
                if task.done():
                    await task
                await asyncio.sleep(0.02)
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


def _printer(quiet: bool) -> Any:
    start = time.monotonic()

    def show(line: str) -> None:
        if not quiet:
            print(f"[{time.monotonic() - start:5.1f}s] {line}", flush=True)

    return show


async def run_simulation(
    *,
    scenario: str = "plain",
    caller_wav: Path | None = None,
    out: Path = Path("out/heard.wav"),
    bot: Path = DEFAULT_BOT,
    url: str | None = None,
    real_openai: bool = False,
    turns: int = 4,
    quiet: bool = False,
) -> SimulationResult:
    """Run one simulated call and judge it.

    Args:
        scenario: ``plain``, ``barge-in`` or ``long``.
        caller_wav: The caller's speech (8000 Hz mono PCM16 or μ-law WAV); a shipped clip otherwise.
        out: Where to write what the caller heard (WAV, PCM16 8000 Hz).
        bot: The bot module to start (ignored with ``url``).
        url: Call this running bot's websocket instead of starting one.
        real_openai: Use the real OpenAI Realtime API (needs ``OPENAI_API_KEY``).
        turns: Questions in the ``long`` scenario.
        quiet: Print no progress.

    Returns:
        The result.
    """
    show = _printer(quiet)
    question = load_wav_as_ulaw(caller_wav) if caller_wav else load_clip("caller_question")
    script = script_for(scenario, question, turns=turns)
    standin: RealtimeStandIn | None = None
    summaries: list[dict[str, Any]] = []
    async with contextlib.AsyncExitStack() as stack:
        if url is None:
            module = _load_bot(bot)
            env = dict(os.environ)
            if real_openai:
                if not env.get("OPENAI_API_KEY"):
                    raise SystemExit("error: --real-openai needs OPENAI_API_KEY in the environment")
                show("using the real OpenAI Realtime API")
            else:
                standin = await stack.enter_async_context(RealtimeStandIn(speed=4.0))
                env.update(OPENAI_API_KEY="sk-offline-simulator", OPENAI_REALTIME_URL=standin.url)
                for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
                    env.pop(name, None)  # offline: no hang-up through Twilio's REST API
                show(f"OpenAI Realtime stand-in on {standin.url}")
            app = module.create_app(module.load_settings(env))
            summaries = app.state.call_summaries
            port = await stack.enter_async_context(_serve(app))
            url = f"ws://127.0.0.1:{port}/ws"
            show(f"example bot ({bot}) serving on 127.0.0.1:{port}")
        show(f"simulated Twilio caller dials {url} — scenario: {scenario}")
        caller = SimulatedTwilioCaller(
            url, script, custom_parameters={"caller": "+15550000000"}, on_progress=show
        )
        report = await caller.run()
        show("call ended")
        if standin is not None:
            async with asyncio.timeout(10):
                # the bot's observer writes the summary as its pipeline ends; the bot exposes no event
                while not summaries:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
    return _judge(report, standin, summaries[0] if summaries else None, out)


def _judge(
    report: CallerReport, standin: RealtimeStandIn | None, summary: dict[str, Any] | None, out: Path
) -> SimulationResult:
    result = SimulationResult(report=report, summary=summary)
    result.wav_path = report.write_wav(out)
    detector = NoiseDetector()
    heard = bytes(report.heard)
    found = {
        f.reason
        for i in range(0, len(heard), 160)
        for f in detector.feed(heard[i : i + 160], chunk_start=i == 0)
    }
    result.noise = sorted(found | set((summary or {}).get("noise", {})))
    if not report.received_audio:
        result.problems.append("the caller heard nothing from the bot")
    if result.noise:
        result.problems.append(f"NOISE: {', '.join(result.noise)}")
    if report.violations:
        result.problems.append(
            f"{len(report.violations)} message(s) Twilio would reject: {report.violations[0]}"
        )
    if standin is not None:
        result.bit_exact = bit_exact_fraction(bytes(report.received_audio), standin.reply_audio)
        if result.bit_exact < 0.999:
            result.problems.append(f"only {result.bit_exact:.1%} of the bytes reached Twilio unchanged")
    return result


def _print_result(result: SimulationResult, scenario: str) -> None:
    report = result.report
    print()
    print(f"Caller heard {len(report.heard) / 8000:.1f} s of bot audio -> {result.wav_path}")
    print(
        f"Twilio side: sent {report.media_sent} media ({report.ulaw_bytes_sent} B), received "
        f"{report.media_received} media ({len(report.received_audio)} B), marks {len(report.marks_played)} "
        f"played / {len(report.marks_flushed)} flushed, clears {report.clears}, "
        f"violations {len(report.violations)}"
    )
    if result.summary:
        keys = ("rx_bytes", "tx_bytes", "bot_turns", "barge_ins", "barge_in_latency_ms", "first_reply_ms")
        shown = ", ".join(f"{k}={_short(result.summary.get(k))}" for k in keys)
        print(f"Bot's call summary (MediaStatsObserver): {shown}")
    print("Verdict:")
    print(f"  audio:     {'speech' if not result.noise else 'NOISE (' + ', '.join(result.noise) + ')'}")
    if result.bit_exact is not None:
        exact = "bit-exact" if result.bit_exact >= 0.999 else "NOT bit-exact"
        print(f"  bytes:     {exact} ({result.bit_exact:.2%} of received bytes identical to OpenAI's)")
    if scenario == "barge-in":
        latency = report.barge_in_latencies_s
        shown = (
            f"{latency[0] * 1000:.0f} ms from caller speech to Twilio clear"
            if latency
            else "no clear received"
        )
        print(f"  barge-in:  {shown}")
        if not latency:
            result.problems.append("barge-in: the bot never cleared Twilio")
    print(f"  result:    {'OK' if result.ok else 'FAILED: ' + '; '.join(result.problems)}")


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:.0f}" for v in value) + "]"
    return str(value)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments (defaults to ``sys.argv[1:]``).

    Returns:
        0 for a clean call, 1 otherwise.
    """
    parser = argparse.ArgumentParser(
        prog="python -m pipecat_twilio_realtime.simulate",
        description="Simulate a Twilio call to the example bot, offline, and judge what the caller heard.",
    )
    parser.add_argument(
        "--scenario", choices=SCENARIOS, default="plain", help="what the caller does (default: plain)"
    )
    parser.add_argument(
        "--caller-wav", type=Path, help="the caller's speech: an 8000 Hz mono PCM16 or μ-law WAV"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("out/heard.wav"), help="WAV of what the caller heard"
    )
    parser.add_argument(
        "--bot", type=Path, default=DEFAULT_BOT, help="bot module to start (default: %(default)s)"
    )
    parser.add_argument("--url", help="call a running bot's media-stream websocket instead (ws://HOST/ws)")
    parser.add_argument(
        "--real-openai", action="store_true", help="use the real OpenAI API (needs OPENAI_API_KEY)"
    )
    parser.add_argument("--turns", type=int, default=4, help="questions in the long scenario")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--verbose", action="store_true", help="show the bot's and Pipecat's logs")
    args = parser.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="DEBUG" if args.verbose else "ERROR")
    result = asyncio.run(
        run_simulation(
            scenario=args.scenario,
            caller_wav=args.caller_wav,
            out=args.out,
            bot=args.bot,
            url=args.url,
            real_openai=args.real_openai,
            turns=args.turns,
            quiet=args.quiet,
        )
    )
    _print_result(result, args.scenario)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
