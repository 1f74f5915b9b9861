"""The simulator's verdict: judge one simulated call and say what the caller heard.

:func:`judge` turns the caller's report (and, offline, the stand-in's record and the bot's summary) into a
:class:`SimulationResult` whose ``problems`` say why the call is not clean; :func:`verdict_lines` renders it,
one line per finding, so a new finding is one more line there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import g711
from ..observe.noise import NoiseDetector
from ..realtime import load_apology
from ..testing import CallerReport, RealtimeStandIn, Speech

__all__ = [
    "DEFAULT_MAX_GAP_MS",
    "FAULT_SCENARIOS",
    "SimulationResult",
    "bit_exact_fraction",
    "gaps_text",
    "judge",
    "pcm_rms",
    "print_result",
    "verdict_lines",
]

FAULT_SCENARIOS = {"openai-down": "OpenAI cannot be reached", "drop": "the OpenAI socket drops mid-reply"}
BUSY_LAG_MS = 100.0
"""Past this much lateness of the simulator's own event loop, the call's gaps are not judged."""

DEFAULT_MAX_GAP_MS = 40.0
"""Gap ms a call may have before the verdict fails it: two 20 ms frames (``docs/playout.md``, "Seeing it")."""


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
        max_gap_ms: The most gap ms (silence inside bot speech) the call may have and still be clean.
        loop_lag_ms: How late the simulator's own event loop ran at worst during the call.
        network: The impairment between caller and bot, described (``"none"``: loopback as it is).
        send_ahead_ms: The example bot's send-ahead lead (``None``: not the example bot, lead unknown).
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
    max_gap_ms: float = DEFAULT_MAX_GAP_MS
    loop_lag_ms: float = 0.0
    network: str = "none"
    send_ahead_ms: float | None = None

    @property
    def machine_busy(self) -> bool:
        """Whether the simulator's own loop ran so late the caller's playout starved (gaps not judged)."""
        return self.loop_lag_ms > BUSY_LAG_MS

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


def judge(
    report: CallerReport,
    standin: RealtimeStandIn | None,
    summary: dict[str, Any] | None,
    out: Path,
    script: Sequence[object],
    scenario: str,
    *,
    max_gap_ms: float = DEFAULT_MAX_GAP_MS,
    loop_lag_ms: float = 0.0,
) -> SimulationResult:
    """Judge one call: what the caller heard, turn by turn, and every reason it is not clean.

    Args:
        report: The simulated caller's report.
        standin: The OpenAI Realtime stand-in the bot talked to (``None``: a real or unknown server).
        summary: The bot's ``MediaStatsObserver`` summary, when it ran in this process.
        out: Where to write what the caller heard (WAV).
        script: The caller's script (its :class:`Speech` segments are the caller's turns).
        scenario: The scenario that ran.
        max_gap_ms: The most gap ms the caller may hear inside bot speech (more is a problem).
        loop_lag_ms: How late the simulator's own event loop ran at worst during the call. Past
            :data:`BUSY_LAG_MS` the machine starved the caller, bot and stand-in that share it, so gaps
            are reported but not judged (a phone line's playout does not starve).

    Returns:
        The result; ``problems`` is empty for a clean call.
    """
    result = SimulationResult(report=report, summary=summary, max_gap_ms=max_gap_ms, loop_lag_ms=loop_lag_ms)
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
    if report.gap_ms > max_gap_ms and not result.machine_busy:
        result.problems.append(
            f"GAPS: the caller heard {report.gap_ms:.0f} ms of silence inside bot speech "
            f"({report.gap_count} gap(s): audio had not arrived), over --max-gap-ms {max_gap_ms:g}"
        )
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


def verdict_lines(result: SimulationResult, scenario: str) -> list[str]:
    """What the simulator prints after a call: the summary lines, then ``Verdict:`` and one line per finding.

    Args:
        result: The judged call.
        scenario: The scenario it ran (some findings only apply to one).

    Returns:
        The lines, without newlines (the first is empty: a blank line after the progress lines).
    """
    report = result.report
    lines: list[str] = []
    show = lines.append
    show("")
    show(
        f"Caller heard {result.heard_s:.1f} s of bot audio in a {result.call_s:.1f} s call "
        f"-> {result.wav_path}"
    )
    show(
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
        show(f"Bot's call summary (MediaStatsObserver): {shown}")
    show("Verdict:")
    if result.noise:
        audio = f"NOISE ({', '.join(result.noise)})"
    elif not report.heard:
        audio = "nothing heard"
    else:
        audio = "speech"
    show(f"  audio:     {audio}")
    vad = f", stand-in VAD heard {result.vad_turns}" if result.vad_turns is not None else ""
    if result.caller_turns:
        show(
            f"  turns:     {result.answered_turns} of {result.caller_turns} caller turn(s) answered "
            f"(caller audio RMS {result.caller_rms:.0f} = {_dbfs(result.caller_rms)}{vad})"
        )
    if result.bit_exact is not None:
        exact = "bit-exact" if result.bit_exact >= 0.999 else "NOT bit-exact"
        show(f"  bytes:     {exact} ({result.bit_exact:.2%} of received bytes identical to OpenAI's)")
    if result.network != "none" or result.send_ahead_ms is not None:
        lead = (
            f"; the bot's send-ahead lead {result.send_ahead_ms:g} ms"
            if result.send_ahead_ms is not None
            else ""
        )
        show(f"  network:   {result.network}{lead}")
    if report.heard:
        busy = (
            f"; not judged: this machine was busy (the simulator's own event loop ran up to "
            f"{result.loop_lag_ms:.0f} ms late, and the caller, bot and stand-in share it)"
            if result.machine_busy and report.gap_ms > result.max_gap_ms
            else ""
        )
        show(f"  gaps:      {gaps_text(report)}, limit {result.max_gap_ms:g} ms{busy}")
    if scenario == "barge-in":
        latency = result.barge_in_ms
        shown = (
            f"{latency[0]:.0f} ms from the caller's first interrupting speech frame to Twilio's clear"
            if latency
            else "no clear received"
        )
        show(f"  barge-in:  {shown}")
    if scenario in FAULT_SCENARIOS or result.apology_heard or result.reconnects:
        show(f"  fault:     {FAULT_SCENARIOS.get(scenario, 'none injected')}")
        heard = "the spoken apology (bit-exact)" if result.apology_heard else "no apology"
        since = "the first answer" if result.caller_turns else "the call's start"
        show(f"  heard:     {heard}; longest silence since {since}: {result.longest_silence_s:.1f} s")
        if report.bot_closed_first:
            ending = f"the bot ended the call {result.call_s:.1f} s in"
        else:
            ending = "the caller hung up at the end of its script"
        recovery = (
            f", after {result.reconnects} reconnect(s) with the conversation carried over"
            if result.reconnects
            else ""
        )
        show(f"  ending:    {ending}{recovery}")
    if tokens := (result.summary or {}).get("tokens"):  # the bot's summed response.done usage
        cost = (result.summary or {}).get("cost_usd")
        priced = f"≈ ${cost:.3f}" if cost is not None else "no price for this model"
        show(f"  tokens:    {tokens['input']} in / {tokens['output']} out, {priced}")
    show(f"  result:    {'OK' if result.ok else 'FAILED: ' + '; '.join(result.problems)}")
    return lines


def print_result(result: SimulationResult, scenario: str) -> None:
    """Print :func:`verdict_lines` to stdout.

    Args:
        result: The judged call.
        scenario: The scenario it ran.
    """
    for line in verdict_lines(result, scenario):
        print(line)


def gaps_text(report: CallerReport) -> str:
    """The gaps the caller heard, e.g. ``0 ms in 8.5 s of bot speech (0 gaps)``.

    Args:
        report: The simulated caller's report.

    Returns:
        The text.
    """
    count = report.gap_count
    longest = f", longest {max(ms for _, ms in report.gaps):.0f} ms" if count else ""
    return (
        f"{report.gap_ms:.0f} ms in {report.bot_speech_s:.1f} s of bot speech "
        f"({count} gap{'' if count == 1 else 's'}{longest})"
    )


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:.0f}" for v in value) + "]"
    return str(value)
