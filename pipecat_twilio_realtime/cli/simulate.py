"""The offline call: the example bot, a local OpenAI Realtime stand-in and a simulated Twilio caller.

    pipecat-twilio-simulate [--scenario plain|barge-in|long] [--caller-wav FILE] [--out out/heard.wav]
                            [--bot PATH | --url ws://HOST/ws] [--real-openai]

(or ``python -m pipecat_twilio_realtime.cli.simulate``). With no credentials and no network it starts the
example bot shipped in the package (:mod:`pipecat_twilio_realtime.example`; ``--bot PATH``: your own
module with ``load_settings(env)`` and ``create_app(settings)``) on 127.0.0.1, points its OpenAI Realtime
URL at :class:`~pipecat_twilio_realtime.testing.RealtimeStandIn`, and calls it with
:class:`~pipecat_twilio_realtime.testing.SimulatedTwilioCaller`, exactly as Twilio Media Streams would.
It then writes what the caller heard as a WAV, prints the bot's call summary and a verdict: speech or
noise, every caller turn answered or not, bytes bit-exact or not, barge-in latency. The exit status is 0 only
for a clean call, 1 for a call that is not, 2 for a usage error (one line on stderr, with a hint).

``--url`` calls your own bot's media-stream websocket instead (the verdict then covers noise and
protocol only). ``--real-openai`` keeps the example bot but talks to the real OpenAI Realtime API
(needs ``OPENAI_API_KEY`` and network).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.util
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeAlias

from loguru import logger
from websockets.exceptions import InvalidStatus, InvalidURI

from .. import g711
from ..observe.callrecord import collect_call_files
from ..observe.noise import NoiseDetector
from ..realtime import load_apology
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
from .runner_bot import is_runner_bot, serve_runner_bot, summary_from_log

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
FAULT_SCENARIOS = {"openai-down": "OpenAI cannot be reached", "drop": "the OpenAI socket drops mid-reply"}
MODULE_PROG = "python -m pipecat_twilio_realtime.cli.simulate"
CONVERT_HINT = "convert it first, e.g. ffmpeg -i IN -ar 8000 -ac 1 -c:a pcm_s16le OUT.wav"


class UsageError(ValueError):
    """The command was asked for something it cannot do (bad file, unreachable bot); one line, with a hint."""


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
        caller_turns: How many times the caller spoke.
        answered_turns: How many of those the bot answered (bot audio arrived after the caller stopped).
        caller_rms: The caller's speech level (RMS of its PCM16 samples).
        vad_turns: Speech turns the Realtime stand-in's VAD detected (``None`` without our stand-in).
        apology_heard: Whether the bot's fallback apology reached the caller, bit-exact.
        reconnects: New OpenAI sessions the bot opened during the call (from its summary).
        longest_silence_s: The longest stretch the caller heard nothing, from the call's start to the
            last bot audio.
        call_files: The bot's recording and timeline of the call (``call.wav``, ``timeline.json``,
            ``timeline.html`` beside the heard WAV), when the bot ran in this process.
    """

    report: CallerReport
    summary: dict[str, Any] | None = None
    noise: list[str] = field(default_factory=list)
    bit_exact: float | None = None
    wav_path: Path | None = None
    problems: list[str] = field(default_factory=list)
    caller_turns: int = 0
    answered_turns: int = 0
    caller_rms: float = 0.0
    vad_turns: int | None = None
    apology_heard: bool = False
    reconnects: int = 0
    longest_silence_s: float = 0.0
    call_files: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the call was clean: speech, every turn answered, exact bytes, no protocol violation."""
        return not self.problems

    @property
    def heard_s(self) -> float:
        """Seconds of bot audio the caller heard (flushed audio excluded)."""
        return len(self.report.heard) / 8000

    @property
    def call_s(self) -> float:
        """Seconds of the whole call as the caller's ear got it (the WAV's length)."""
        return len(self.report.timeline) / 8000

    @property
    def barge_in_ms(self) -> list[float]:
        """Per barge-in: ms from the caller's first interrupting speech frame to the ``clear`` reaching it."""
        return [s * 1000 for s in self.report.barge_in_latencies_s]


def script_for(scenario: str, question: bytes, *, turns: int = 4) -> list[Segment]:
    """The caller's script for a scenario.

    Args:
        scenario: ``plain`` (greeting, one question, one answer), ``barge-in`` (talks over the answer),
            ``long`` (``turns`` questions in a row), ``openai-down`` (the caller waits: OpenAI is
            unreachable) or ``drop`` (the plain turn, with the OpenAI socket dropped mid-answer).
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


def pcm_rms(ulaw: bytes) -> float:
    """The level of μ-law audio: RMS of its PCM16 samples (0 for silence, 32767 for full scale).

    Args:
        ulaw: μ-law bytes.

    Returns:
        The RMS in PCM16 units.
    """
    return g711.rms(g711.decode(ulaw))


def _dbfs(rms: float) -> str:
    return f"{20 * math.log10(rms / 32768):.0f} dBFS" if rms > 0 else "-inf dBFS"


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

    Returns:
        The result.

    Raises:
        UsageError: For an unusable ``caller_wav`` or ``bot``, or a bot at ``url`` that cannot be reached
            or refuses the handshake.
    """
    show = _printer(quiet)
    url_given = url
    if url is not None and scenario in FAULT_SCENARIOS:
        raise UsageError(f"--scenario {scenario} needs the simulator's own stand-in: leave out --url")
    question = _read_caller_wav(caller_wav) if caller_wav else load_clip("caller_question")
    script = script_for(scenario, question, turns=turns)
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
        caller = SimulatedTwilioCaller(
            url, script, custom_parameters={"caller": "+15550000000"}, on_progress=show
        )
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
    result = _judge(report, standin, summaries[0] if summaries else None, out, script, scenario)
    result.call_files = call_files
    return result


def _judge(
    report: CallerReport,
    standin: RealtimeStandIn | None,
    summary: dict[str, Any] | None,
    out: Path,
    script: Sequence[Segment],
    scenario: str,
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
    speech = [s for s in script if isinstance(s, Speech)]
    result.caller_turns = len(speech)
    result.answered_turns = min(len(report.reply_latencies_s), len(speech))
    result.caller_rms = pcm_rms(b"".join(s.ulaw for s in speech))
    if standin is not None:
        result.vad_turns = sum(
            1 for e in standin.sent if e.get("type") == "input_audio_buffer.speech_started"
        )
    answer = "first bot audio after caller speech"
    answered = any(what.startswith(answer) for _, what in report.events)
    # dead air: from the call's start when the caller only listens, else from the first answer on
    result.longest_silence_s = report.longest_silence_s(answer if speech and answered else None)
    result.reconnects = int(((summary or {}).get("realtime") or {}).get("reconnects", 0))
    apology = load_apology().replace(b"\x7f", b"\xff")
    apology += b"\xff" * (-len(apology) % 160)  # the transport pads the last chunk with silence (0xFF)
    result.apology_heard = apology in bytes(report.received_audio).replace(b"\x7f", b"\xff")
    if scenario == "openai-down":
        if not result.apology_heard:
            result.problems.append("OpenAI was unreachable and the caller did not hear the apology")
        if not report.bot_closed_first:
            result.problems.append("OpenAI was unreachable and the bot did not end the call")
    elif result.apology_heard:
        result.problems.append("the bot gave up on the call (the caller heard the apology)")
    if scenario == "drop" and result.reconnects < 1:
        result.problems.append("the OpenAI socket dropped and the bot did not reconnect")
    if not report.received_audio:
        result.problems.append("the caller heard nothing from the bot")
    if result.answered_turns < result.caller_turns:
        vad = (
            f"the Realtime stand-in's VAD heard {result.vad_turns} speech turn(s)"
            if result.vad_turns is not None
            else "no VAD count: the bot's Realtime server is not the simulator's stand-in"
        )
        result.problems.append(
            f"the bot answered {result.answered_turns} of {result.caller_turns} caller turn(s) "
            f"(caller audio RMS {result.caller_rms:.0f} = {_dbfs(result.caller_rms)}; {vad})"
        )
    if result.noise:
        result.problems.append(f"NOISE: {', '.join(result.noise)}")
    if report.violations:
        result.problems.append(
            f"{len(report.violations)} message(s) Twilio would reject: {report.violations[0]}"
        )
    if scenario == "barge-in" and not report.barge_in_latencies_s:
        result.problems.append("barge-in: the bot never cleared Twilio")
    if standin is not None:
        produced = standin.reply_audio + (apology if result.apology_heard else b"")
        result.bit_exact = bit_exact_fraction(bytes(report.received_audio), produced)
        if result.bit_exact < 0.999:
            result.problems.append(f"only {result.bit_exact:.1%} of the bytes reached Twilio unchanged")
    return result


def _print_result(result: SimulationResult, scenario: str) -> None:
    report = result.report
    print()
    print(
        f"Caller heard {result.heard_s:.1f} s of bot audio in a {result.call_s:.1f} s call "
        f"-> {result.wav_path}"
    )
    print(
        f"Twilio side: sent {report.media_sent} media ({report.ulaw_bytes_sent} B), received "
        f"{report.media_received} media ({len(report.received_audio)} B), marks {len(report.marks_played)} "
        f"played / {len(report.marks_flushed)} flushed, clears {report.clears}, "
        f"violations {len(report.violations)}"
    )
    if result.summary:
        # The bot's own barge_in_latency_ms is left out on purpose: it starts at the VAD's speech_started,
        # after the detection delay. The verdict below gives the one latency the caller lives through.
        keys = ("rx_bytes", "tx_bytes", "bot_turns", "barge_ins", "first_reply_ms")
        shown = ", ".join(f"{k}={_short(result.summary.get(k))}" for k in keys)
        print(f"Bot's call summary (MediaStatsObserver): {shown}")
    print("Verdict:")
    if result.noise:
        audio = f"NOISE ({', '.join(result.noise)})"
    elif not report.heard:
        audio = "nothing heard"
    else:
        audio = "speech"
    print(f"  audio:     {audio}")
    vad = f", stand-in VAD heard {result.vad_turns}" if result.vad_turns is not None else ""
    if result.caller_turns:
        print(
            f"  turns:     {result.answered_turns} of {result.caller_turns} caller turn(s) answered "
            f"(caller audio RMS {result.caller_rms:.0f} = {_dbfs(result.caller_rms)}{vad})"
        )
    if result.bit_exact is not None:
        exact = "bit-exact" if result.bit_exact >= 0.999 else "NOT bit-exact"
        print(f"  bytes:     {exact} ({result.bit_exact:.2%} of received bytes identical to OpenAI's)")
    if scenario == "barge-in":
        latency = result.barge_in_ms
        shown = (
            f"{latency[0]:.0f} ms from the caller's first interrupting speech frame to Twilio's clear"
            if latency
            else "no clear received"
        )
        print(f"  barge-in:  {shown}")
    if scenario in FAULT_SCENARIOS or result.apology_heard or result.reconnects:
        print(f"  fault:     {FAULT_SCENARIOS.get(scenario, 'none injected')}")
        heard = "the spoken apology (bit-exact)" if result.apology_heard else "no apology"
        since = "the first answer" if result.caller_turns else "the call's start"
        print(f"  heard:     {heard}; longest silence since {since}: {result.longest_silence_s:.1f} s")
        if report.bot_closed_first:
            ending = f"the bot ended the call {result.call_s:.1f} s in"
        else:
            ending = "the caller hung up at the end of its script"
        recovery = (
            f", after {result.reconnects} reconnect(s) with the conversation carried over"
            if result.reconnects
            else ""
        )
        print(f"  ending:    {ending}{recovery}")
    print(f"  result:    {'OK' if result.ok else 'FAILED: ' + '; '.join(result.problems)}")


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:.0f}" for v in value) + "]"
    return str(value)


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
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--verbose", action="store_true", help="show the bot's and Pipecat's logs")
    args = parser.parse_args(argv)
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
            )
        )
    except UsageError as e:
        print(f"{prog}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    _print_result(result, args.scenario)
    for name, path in result.call_files.items():
        print(f"  {name + ':':15}{path}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
