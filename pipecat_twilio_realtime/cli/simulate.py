"""The offline call: the example bot, a local OpenAI Realtime stand-in and a simulated Twilio caller.

    pipecat-twilio-simulate [--scenario plain|barge-in|long] [--caller-wav FILE] [--out out/heard.wav]
                            [--bot PATH | --url ws://HOST/ws] [--real-openai]
                            [--network SPEC] [--seed N] [--send-ahead-ms MS] [--max-gap-ms MS]
                            [--answer-timeout-s S]

(or ``python -m pipecat_twilio_realtime.cli.simulate``). With no credentials and no network it starts the
example bot shipped in the package (:mod:`pipecat_twilio_realtime.example`; ``--bot PATH``: your own
module with ``load_settings(env)`` and ``create_app(settings)``) on 127.0.0.1, points its OpenAI Realtime
URL at :class:`~pipecat_twilio_realtime.testing.RealtimeStandIn`, and calls it with
:class:`~pipecat_twilio_realtime.testing.SimulatedTwilioCaller`, exactly as Twilio Media Streams would.
It then writes what the caller heard as a WAV, prints the bot's call summary and a verdict: speech or
noise, every caller turn answered or not, bytes bit-exact or not, barge-in latency, and the gaps: ms of
silence the caller heard inside bot speech because audio had not arrived (past ``--max-gap-ms`` the call
fails). ``--network jitter=100ms,stall=250ms/5s`` puts a seeded impairment between caller and bot
(:class:`~pipecat_twilio_realtime.testing.network.NetworkConfig` grammar); ``--send-ahead-ms`` sets the
example bot's lead (0: Pipecat's real-time pacing), to hear what it buys. The exit status is 0 only
for a clean call, 1 for a call that is not, 2 for a usage error (one line on stderr, with a hint).

``--url`` calls your own bot's media-stream websocket instead (the verdict then covers noise and
protocol only). ``--real-openai`` keeps the example bot but talks to the real OpenAI Realtime API
(needs ``OPENAI_API_KEY`` and network).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TypeAlias

from loguru import logger
from websockets.exceptions import InvalidStatus, InvalidURI

from ..observe.callrecord import collect_call_files
from ..testing import (
    CallerReport,
    Dtmf,
    Faults,
    RealtimeStandIn,
    Silence,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    WaitForBotSilence,
    load_clip,
    load_wav_as_ulaw,
    refused_url,
    serve_app,
)
from ..testing.lag import LoopLag
from ..testing.network import NetworkConfig
from .runner_bot import is_runner_bot, serve_runner_bot, summary_from_log
from .verdict import (
    DEFAULT_MAX_GAP_MS,
    FAULT_SCENARIOS,
    SimulationResult,
    bit_exact_fraction,
    judge,
    pcm_rms,
    print_result,
)

__all__ = [
    "SimulationResult",
    "UsageError",
    "bit_exact_fraction",
    "main",
    "pcm_rms",
    "run_simulation",
    "script_for",
]

Segment: TypeAlias = Speech | Silence | Dtmf | WaitForBotAudio | WaitForBotSilence
PACKAGED_BOT = "pipecat_twilio_realtime.example"
SCENARIOS = ("plain", "barge-in", "long", "openai-down", "drop")
DEFAULT_ANSWER_TIMEOUT_S = 8.0
"""How long the caller waits for the bot to start answering each turn before it counts the turn as missed."""
MODULE_PROG = "python -m pipecat_twilio_realtime.cli.simulate"
CONVERT_HINT = "convert it first, e.g. ffmpeg -i IN -ar 8000 -ac 1 -c:a pcm_s16le OUT.wav"
NETWORK_HINT = (
    "give KEY=VALUE pairs separated by commas (to_bot.KEY / to_caller.KEY: one direction), "
    "e.g. --network jitter=100ms,stall=250ms/5s,seed=1"
)


class UsageError(ValueError):
    """The command was asked for something it cannot do (bad file, unreachable bot); one line, with a hint."""


def script_for(
    scenario: str, question: bytes, *, turns: int = 4, answer_timeout_s: float = DEFAULT_ANSWER_TIMEOUT_S
) -> list[Segment]:
    """The caller's script for a scenario.

    Args:
        scenario: ``plain`` (greeting, one question, one answer), ``barge-in`` (talks over the answer),
            ``long`` (``turns`` questions in a row), ``openai-down`` (the caller waits: OpenAI is
            unreachable) or ``drop`` (the plain turn, with the OpenAI socket dropped mid-answer).
        question: The caller's speech, μ-law 8000 Hz.
        turns: Questions in the ``long`` scenario.
        answer_timeout_s: Seconds the caller waits for the bot to start answering each question.

    Returns:
        The segments.
    """
    greeting: list[Segment] = [WaitForBotAudio(after_s=0.2), WaitForBotSilence()]
    turn: list[Segment] = [
        Speech(question, "question"),
        WaitForBotAudio(after_s=0.2, timeout_s=answer_timeout_s),
        WaitForBotSilence(),
    ]
    if scenario in ("plain", "drop"):
        return greeting + turn
    if scenario == "openai-down":  # the bot should apologise and end the call by itself
        return [WaitForBotAudio(after_s=0.2, timeout_s=15.0), WaitForBotSilence(), Silence(8.0)]
    if scenario == "barge-in":
        interrupt = Speech(load_clip("caller_interrupt"), "talks over the bot")
        return [*greeting, Speech(question, "question"), WaitForBotAudio(after_s=1.0), interrupt, *turn[1:]]
    if scenario == "long":
        return greeting + turn * turns
    raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")


def _read_caller_wav(path: Path) -> bytes:
    """The caller's speech from ``--caller-wav``, or a :class:`UsageError` saying what is wrong with it."""
    if not path.exists():
        raise UsageError(f"--caller-wav {path}: no such file (give an 8000 Hz mono WAV)")
    if path.is_dir():
        raise UsageError(f"--caller-wav {path}: is a directory (give an 8000 Hz mono WAV file)")
    try:
        ulaw = load_wav_as_ulaw(path)
    except OSError as e:
        raise UsageError(f"--caller-wav {path}: cannot read it ({e.strerror or e})") from None
    except ValueError as e:  # the reader's message names the file and, for a wrong rate, how to convert it
        reason = str(e).rstrip(".")
        hint = "" if "onvert" in reason else f"; {CONVERT_HINT}"
        raise UsageError(f"--caller-wav {reason}{hint}") from None
    if not ulaw:
        raise UsageError(f"--caller-wav {path}: the WAV holds no audio")
    return ulaw


def _load_bot(path: Path | None) -> ModuleType:
    """The packaged example bot (``None``), or the module at ``path``; a :class:`UsageError` if unusable."""
    if path is None:
        try:
            return importlib.import_module(PACKAGED_BOT)
        except ImportError as e:
            raise UsageError(
                f"the example bot needs the [example] extra ({e}): "
                'pip install "pipecat-twilio-realtime[example]"'
            ) from None
    hint = (
        "pass --bot PATH to a .py module with load_settings(env) and create_app(settings), "
        "or a Pipecat runner bot with async def bot(runner_args)"
    )
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "no such file"
        raise UsageError(f"--bot {path}: {what}; {hint}, or --url ws://HOST/ws to call a running bot")
    spec = importlib.util.spec_from_file_location("pipecat_twilio_realtime_simulated_bot", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"--bot {path}: not a Python module; {hint}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    sys.path.insert(0, str(path.parent.resolve()))
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the user's module: whatever it raises is a usage error here
        reason = str(e).splitlines()[0] if str(e) else ""
        raise UsageError(f"--bot {path}: importing it failed: {type(e).__name__}: {reason}") from None
    missing = [name for name in ("load_settings", "create_app") if not hasattr(module, name)]
    if missing and not is_runner_bot(module):
        raise UsageError(f"--bot {path}: has no {', '.join(f'{m}()' for m in missing)}; {hint}")
    return module


def _printer(quiet: bool) -> Any:
    start = time.monotonic()

    def show(line: str) -> None:
        if not quiet:
            print(f"[{time.monotonic() - start:5.1f}s] {line}", flush=True)

    return show


async def _place_call(caller: SimulatedTwilioCaller, url: str) -> CallerReport:
    """Run the call; a bot that cannot be reached or refuses the handshake is a :class:`UsageError`."""
    try:
        return await caller.run()
    except InvalidURI:
        raise UsageError(f"--url {url}: not a websocket URL; give ws://HOST:PORT/ws") from None
    except InvalidStatus as e:
        status = e.response.status_code
        if status == 403:
            raise UsageError(
                "the bot refused the handshake (HTTP 403): it checks Twilio signatures; run it in unsigned "
                f"local mode (ALLOW_UNSIGNED=1, TWILIO_AUTH_TOKEN unset) or call it through Twilio ({url})"
            ) from None
        raise UsageError(
            f"the bot refused the handshake (HTTP {status}) at {url}; check the path (e.g. /ws)"
        ) from None
    except ConnectionRefusedError:
        raise UsageError(
            f"nothing is listening at {url} (connection refused); start your bot first or fix the port"
        ) from None
    except OSError as e:  # DNS failure, unreachable host, open timeout
        raise UsageError(f"cannot reach the bot at {url} ({e or type(e).__name__}); is it running?") from None


async def run_simulation(
    *,
    scenario: str = "plain",
    caller_wav: Path | None = None,
    out: Path = Path("out/heard.wav"),
    bot: Path | None = None,
    url: str | None = None,
    real_openai: bool = False,
    turns: int = 4,
    quiet: bool = False,
    network: NetworkConfig | None = None,
    send_ahead_ms: float | None = None,
    max_gap_ms: float = DEFAULT_MAX_GAP_MS,
    answer_timeout_s: float = DEFAULT_ANSWER_TIMEOUT_S,
) -> SimulationResult:
    """Run one simulated call and judge it.

    Args:
        scenario: ``plain``, ``barge-in`` or ``long``.
        caller_wav: The caller's speech (8000 Hz mono PCM16 or μ-law WAV); a shipped clip otherwise.
        out: Where to write what the caller heard (WAV, PCM16 8000 Hz).
        bot: The bot module to start (a ``.py`` path); ``None`` starts the example bot shipped in the
            package. Ignored with ``url``.
        url: Call this running bot's websocket instead of starting one.
        real_openai: Use the real OpenAI Realtime API (needs ``OPENAI_API_KEY``).
        turns: Questions in the ``long`` scenario.
        quiet: Print no progress.
        network: The impairment of the caller's websocket, each direction (``None``: loopback as it is).
        send_ahead_ms: The example bot's send-ahead lead in ms (0: Pipecat's real-time pacing; ``None``:
            :data:`~pipecat_twilio_realtime.twilio.playout.DEFAULT_SEND_AHEAD_MS`). Only for the example
            bot: another bot's transport sets its own.
        max_gap_ms: The most gap ms (silence inside bot speech) a clean call may have.
        answer_timeout_s: Seconds the caller waits for the bot to start answering each question; a
            turn with no answer by then is missed (the call then fails).

    Returns:
        The result.

    Raises:
        UsageError: For an unusable ``caller_wav`` or ``bot``, a bot at ``url`` that cannot be reached
            or refuses the handshake, or ``send_ahead_ms`` for a bot other than the example.
    """
    show = _printer(quiet)
    url_given = url
    network = network or NetworkConfig()
    if url is not None and scenario in FAULT_SCENARIOS:
        raise UsageError(f"--scenario {scenario} needs the simulator's own stand-in: leave out --url")
    if send_ahead_ms is not None and (url is not None or bot is not None):
        raise UsageError(
            "--send-ahead-ms sets the lead of the example bot the simulator starts; your own bot's "
            "transport sets its own (SendAheadWebsocketTransport(send_ahead_ms=...)): leave it out"
        )
    if send_ahead_ms is not None and send_ahead_ms < 0:
        raise UsageError(f"--send-ahead-ms {send_ahead_ms:g}: must be >= 0 (0: Pipecat's real-time pacing)")
    # the example bot's lead (its own default unless given); another bot's transport is its own business
    lead = None if url is not None or bot is not None else send_ahead_ms
    question = _read_caller_wav(caller_wav) if caller_wav else load_clip("caller_question")
    script = script_for(scenario, question, turns=turns, answer_timeout_s=answer_timeout_s)
    standin: RealtimeStandIn | None = None
    summaries: list[dict[str, Any]] = []
    bot_log: Path | None = None  # a runner bot's output, where its summary is read from
    record_dir: Path | None = None  # where the bot in this process records the call
    async with contextlib.AsyncExitStack() as stack:
        if url is None:
            module = _load_bot(bot)
            env = dict(os.environ)
            if real_openai:
                if not env.get("OPENAI_API_KEY"):
                    raise UsageError("--real-openai needs OPENAI_API_KEY in the environment")
                show("using the real OpenAI Realtime API")
            elif scenario == "openai-down":
                env.update(OPENAI_API_KEY="sk-offline-simulator", OPENAI_REALTIME_URL=refused_url())
                show(f"OpenAI Realtime unreachable: {env['OPENAI_REALTIME_URL']} refuses connections")
            else:
                faults = Faults(close_mid_reply=2) if scenario == "drop" else Faults()
                standin = await stack.enter_async_context(RealtimeStandIn(speed=4.0, faults=faults))
                env.update(OPENAI_API_KEY="sk-offline-simulator", OPENAI_REALTIME_URL=standin.url)
                show(f"OpenAI Realtime stand-in on {standin.url}")
            # The simulated caller is not Twilio: unsigned local mode, no REST calls to Twilio.
            for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
                env.pop(name, None)
            env["ALLOW_UNSIGNED"] = "1"
            if bot is not None and is_runner_bot(module):
                bot_log = out.with_name("bot.log")
                try:
                    url = await stack.enter_async_context(serve_runner_bot(bot, env, bot_log))
                except RuntimeError as e:
                    raise UsageError(f"--bot {bot}: {e} (its output: {bot_log})") from None
                show(f"runner bot {bot} serving under Pipecat's runner on {url} (its log: {bot_log})")
        if url is None:
            if lead is not None:
                stack.enter_context(_example_lead(lead))
                show(f"the example bot sends reply audio {lead:g} ms ahead of its play time")
            record_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pipecat-call-")))
            env["CALL_RECORD_DIR"] = str(record_dir)  # the bot records the call: call.wav, timeline.*
            try:
                app = module.create_app(module.load_settings(env))
            except ValueError as e:  # the bot's ConfigError
                raise UsageError(f"the bot's settings: {e}") from None
            summaries = app.state.call_summaries
            port = await stack.enter_async_context(serve_app(app))
            url = f"ws://127.0.0.1:{port}/ws"
            show(f"{'example bot' if bot is None else f'bot {bot}'} serving on 127.0.0.1:{port}")
        show(f"simulated Twilio caller dials {url} — scenario: {scenario}")
        if network.impaired:
            show(f"network between caller and bot: {network.describe()}")
        caller = SimulatedTwilioCaller(
            url, script, custom_parameters={"caller": "+15550000000"}, on_progress=show, network=network
        )
        with LoopLag() as lag:
            report = await _place_call(caller, url)
        show("call ended")
        if url_given is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    # the bot's observer writes the summary as its pipeline ends; the bot exposes no event
                    while not summaries:
                        if bot_log is not None and (found := summary_from_log(bot_log.read_text())):
                            summaries.append(found)
                        await asyncio.sleep(0.05)
        call_files = collect_call_files(record_dir, caller.stream_sid, out.parent) if record_dir else {}
    summary = summaries[0] if summaries else None
    result = judge(
        report, standin, summary, out, script, scenario, max_gap_ms=max_gap_ms, loop_lag_ms=lag.max_ms
    )
    result.call_files = call_files
    result.network = network.describe() if network.impaired else "none"
    if url_given is None and bot is None:
        result.send_ahead_ms = _default_lead() if lead is None else lead
    return result


@contextlib.contextmanager
def _example_lead(send_ahead_ms: float) -> Iterator[None]:
    """While the simulated call runs, the example bot's transport sends ``send_ahead_ms`` ahead.

    The example builds its ``SendAheadWebsocketTransport`` with the default lead inside ``run_bot``; the
    name it calls is swapped for one with this lead, and put back when the call is over.
    """
    from ..example import pipeline

    name = "SendAheadWebsocketTransport"
    original = getattr(pipeline, name)
    namespace = vars(pipeline)  # the module's globals: what run_bot looks the name up in
    namespace[name] = functools.partial(original, send_ahead_ms=send_ahead_ms)
    try:
        yield
    finally:
        namespace[name] = original


def _default_lead() -> int:
    """The send-ahead default, imported only when asked (its module imports FastAPI: the [example] extra)."""
    from ..twilio.playout import DEFAULT_SEND_AHEAD_MS

    return DEFAULT_SEND_AHEAD_MS


def _prog() -> str:
    """The name this command was invoked as: the console script's, or ``python -m ...``."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if not name or name.endswith(".py") or name in ("-c", "-m"):
        return MODULE_PROG
    return name


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of ms") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a number of ms >= 0")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("must be a number of seconds > 0")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments (defaults to ``sys.argv[1:]``).

    Returns:
        0 for a clean call, 1 for a call that is not, 2 for a usage error.
    """
    prog = _prog()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Simulate a Twilio call to a bot, offline, and judge what the caller heard.",
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
        "--bot",
        type=Path,
        help="your bot module (.py with load_settings(env) and create_app(settings)) to start instead of "
        "the example bot shipped in the package",
    )
    parser.add_argument("--url", help="call a running bot's media-stream websocket instead (ws://HOST/ws)")
    parser.add_argument(
        "--real-openai", action="store_true", help="use the real OpenAI API (needs OPENAI_API_KEY)"
    )
    parser.add_argument("--turns", type=_positive_int, default=4, help="questions in the long scenario")
    parser.add_argument(
        "--network",
        metavar="SPEC",
        default="",
        help="impair the caller's websocket, e.g. jitter=100ms,stall=250ms/5s,delay=20ms (keys: delay, "
        "jitter, dist, stall, batch, seed; to_bot./to_caller. for one direction; default: none)",
    )
    parser.add_argument(
        "--seed", type=int, help="seed of the network's randomness (overrides seed= in --network)"
    )
    parser.add_argument(
        "--send-ahead-ms",
        type=_non_negative,
        metavar="MS",
        help=f"the example bot's send-ahead lead (default {_default_lead()}; 0: Pipecat's real-time pacing)",
    )
    parser.add_argument(
        "--max-gap-ms",
        type=_non_negative,
        metavar="MS",
        default=DEFAULT_MAX_GAP_MS,
        help=f"fail the call past this many ms of gaps inside bot speech (default {DEFAULT_MAX_GAP_MS:g})",
    )
    parser.add_argument(
        "--answer-timeout-s",
        type=_positive_seconds,
        metavar="S",
        default=DEFAULT_ANSWER_TIMEOUT_S,
        help="seconds the caller waits for the bot to start answering each question before the turn "
        f"counts as unanswered (default {DEFAULT_ANSWER_TIMEOUT_S:g})",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--verbose", action="store_true", help="show the bot's and Pipecat's logs")
    args = parser.parse_args(argv)
    try:
        network = NetworkConfig.parse(args.network)
    except ValueError as e:
        print(f"{prog}: error: --{' '.join(str(e).split())}; {NETWORK_HINT}", file=sys.stderr)
        return 2
    if args.seed is not None:
        network = dataclasses.replace(network, seed=args.seed)
    logger.remove()
    logger.add(sys.stderr, level="DEBUG" if args.verbose else "ERROR")
    try:
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
                network=network,
                send_ahead_ms=args.send_ahead_ms,
                max_gap_ms=args.max_gap_ms,
                answer_timeout_s=args.answer_timeout_s,
            )
        )
    except UsageError as e:
        print(f"{prog}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    print()  # the call's files first: the verdict stays the last thing printed, its result line last
    for name, path in result.call_files.items():
        print(f"  {name + ':':15}{path}")
    print_result(result, args.scenario)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
