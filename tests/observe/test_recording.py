"""The bot's recording of a simulated call is what the caller heard and what it sent, sample for sample.

The simulator runs the example bot (real uvicorn, transport, serializer, service, observer with
``CALL_RECORD_DIR``), the Realtime stand-in and the simulated Twilio caller; the bot's observer writes
``call.wav`` knowing only what crossed its Twilio socket. The caller's report says what it really heard,
tick by tick (``CallerReport.timeline``, written as ``heard.wav``).
"""

from __future__ import annotations

import bisect
import difflib
import json
import math
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipecat_twilio_realtime import g711
from pipecat_twilio_realtime.cli.simulate import SimulationResult, run_simulation, script_for
from pipecat_twilio_realtime.testing import Speech, load_clip

FRAME = 160


def stereo(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).reshape(-1, 2)
    return samples[:, 0], samples[:, 1]


def pcm(ulaw: bytes | bytearray) -> np.ndarray:
    return np.frombuffer(g711.decode(bytes(ulaw)), dtype=np.int16)


def stretches(samples: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of each stretch of sound, split at silences of 200 ms or more."""
    loud = np.flatnonzero(samples)
    if not len(loud):
        return []
    breaks = np.flatnonzero(np.diff(loud) > 1600)
    starts = [loud[0], *(loud[i + 1] for i in breaks)]
    ends = [*(loud[i] + 1 for i in breaks), loud[-1] + 1]
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def caller_lateness(result: SimulationResult) -> Callable[[int], int]:
    """Frames the simulated caller was behind its own clock around a sample (CPU starvation).

    Its send clock (the left channel) and its playout clock (the right one) run in two tasks: either
    may be late alone, so the worse of the two counts.
    """
    report = result.report
    sends = [t - (report.started_at + 0.02 * i) for i, t in enumerate(report.media_sent_at)]
    ticks = [t - (report.started_at + 0.02 * i) for i, t in enumerate(report.ticks_at)]

    def frames_near(sample: int) -> int:
        frame = sample // FRAME
        near = [*sends[max(0, frame - 25) : frame + 25], *ticks[max(0, frame - 25) : frame + 25]]  # ±0.5 s
        return math.ceil(max(0.0, max(near, default=0.0) - 0.005) / 0.02)

    return frames_near


def frames(samples: np.ndarray, start: int, end: int) -> list[bytes]:
    """The 20 ms frames of the call clock that ``[start, end)`` touches (placement is on that grid)."""
    first = start // FRAME * FRAME
    return [samples[i : i + FRAME].tobytes() for i in range(first, end, FRAME)]


def assert_same_frames(
    result: SimulationResult,
    bot: np.ndarray,
    ours: tuple[int, int],
    heard: np.ndarray,
    theirs: tuple[int, int],
) -> None:
    """One stretch of the bot channel holds the caller's frames, in order, one for one.

    Only where the caller's loop ran late may they differ, by at most those frames: there a stretch's
    inner edges move too (the audio just before a ``clear`` inside it, a near-empty buffer refilled in
    time for the caller's late tick), so frames may be missing on one side or shifted by a silent one.
    A ``clear`` crossing a frame boundary in flight may cut one frame more, at the stretch's end or at
    that ``clear``.
    """
    late = caller_lateness(result)
    clears = [round(t * 8000) for t, what in result.report.events if what.startswith("clear")]
    mine, theirs_frames = frames(bot, *ours), frames(heard, *theirs)
    origin = theirs[0] // FRAME * FRAME
    matcher = difflib.SequenceMatcher(None, mine, theirs_frames, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        lo, hi = origin + j1 * FRAME, origin + j2 * FRAME
        at_end = i2 == len(mine) or j2 == len(theirs_frames)
        at_clear = any(lo - 2 * FRAME <= x <= hi + 2 * FRAME for x in clears)
        allowed = late(lo) + (1 if at_end or at_clear else 0)
        assert max(i2 - i1, j2 - j1) <= allowed, (tag, ours, theirs, lo, i2 - i1, j2 - j1, late(lo), clears)


def assert_bot_channel_is_what_was_heard(result: SimulationResult, bot: np.ndarray) -> None:
    """The bot channel is the caller's playout, sample for sample.

    The simulated caller plays on its own 20 ms clock in the same process as the bot. When the machine is
    so busy that the caller falls frames behind that clock, where its playout put audio no longer follows
    from the wire: there a stretch may start or end up to those frames off (its samples must still be the
    caller's, one for one, save as many frames as it was late there: :func:`assert_same_frames`). A
    ``clear`` that crosses a frame boundary in flight may cut one frame off. Everywhere else the placement
    must be exact.
    """
    heard = pcm(result.report.timeline)  # each 20 ms tick of the caller's playout, silence included
    n = min(len(bot), len(heard))
    assert n > 8000 * 5
    assert not bot[n:].any() and not heard[n:].any()  # whichever runs on is silence
    late = caller_lateness(result)
    ours, theirs = stretches(bot[:n]), stretches(heard[:n])
    assert len(ours) == len(theirs) >= 2, (ours, theirs)
    for (a, b), (c, d) in zip(ours, theirs, strict=True):
        assert abs(a - c) <= late(c) * FRAME, ((a, b), (c, d), late(c))
        assert abs(b - d) <= late(d) * FRAME + FRAME, ((a, b), (c, d), late(d))
        assert_same_frames(result, bot, (a, b), heard, (c, d))
    exact = np.array_equal(bot[:n], heard[:n])
    print(f"bot channel identical to the caller's playout: {exact}")  # the measured rate, with -s


def assert_caller_channel_is_what_was_sent(
    result: SimulationResult, caller: np.ndarray, scenario: str
) -> None:
    """The caller sends silence frames and its clips: the left channel is exactly that, nothing more."""
    sent = result.report.ulaw_bytes_sent
    # the bot may be heard for one frame after the caller's last one (its playout runs on until stop)
    assert 0 <= len(caller) - sent <= FRAME and not caller[sent:].any()
    script = script_for(scenario, load_clip("caller_question"))
    clips = {s.label: s.ulaw for s in script if isinstance(s, Speech)}
    expected = np.zeros_like(caller)
    starts = [(t, what) for t, what in result.report.events if what.startswith("speech starts: ")]
    assert starts
    sent_at = result.report.media_sent_at
    for t, what in starts:
        clip = pcm(clips[what.removeprefix("speech starts: ")])
        # the frames sent before the clip's first one (t / 20 ms only while the caller kept its clock)
        frame = bisect.bisect_right(sent_at, result.report.started_at + t)
        found = [
            f * FRAME
            for f in range(frame - 2, frame + 3)
            if np.array_equal(caller[f * FRAME : f * FRAME + len(clip)], clip)
        ]
        assert len(found) == 1, f"the clip spoken at {t:.2f} s is not in the recording there"
        expected[found[0] : found[0] + len(clip)] = clip
    assert np.array_equal(caller, expected)


async def test_plain_call_recording_is_what_the_caller_heard_and_said(tmp_path: Path) -> None:
    result = await run_simulation(scenario="plain", out=tmp_path / "heard.wav", quiet=True)
    assert result.ok, result.problems
    assert result.call_files["call.wav"] == tmp_path / "call.wav"
    caller, bot = stereo(tmp_path / "call.wav")
    assert_bot_channel_is_what_was_heard(result, bot)
    assert_caller_channel_is_what_was_sent(result, caller, "plain")


async def test_barge_in_recording_leaves_out_the_flushed_audio(tmp_path: Path) -> None:
    result = await run_simulation(scenario="barge-in", out=tmp_path / "heard.wav", quiet=True)
    assert result.ok, result.problems
    report = result.report
    assert report.flushed_bytes > 0  # the clear dropped audio Twilio had buffered
    caller, bot = stereo(tmp_path / "call.wav")
    assert_bot_channel_is_what_was_heard(result, bot)
    assert_caller_channel_is_what_was_sent(result, caller, "barge-in")
    assert np.count_nonzero(bot) < np.count_nonzero(pcm(report.received_audio))
    timeline = json.loads((tmp_path / "timeline.json").read_text())
    flushed = sum(e["flushed_ms"] for e in timeline["events"] if e["kind"] == "clear")
    # exact while the caller kept its clock; a clear in flight while the caller's loop ran late can land
    # one frame later or earlier in its playout than on the call's clock the recorder keeps (a lag under
    # one frame too, if the clear lands near a frame's edge: 17.5 ms of lag moved it one frame in CI)
    slack = 0 if result.loop_lag_ms <= 5 else 160 * math.ceil(result.loop_lag_ms / 20)
    assert abs(flushed * 8 - report.flushed_bytes) <= slack, (
        flushed,
        report.flushed_bytes,
        result.loop_lag_ms,
    )
    barge_ins = [e for e in timeline["events"] if e["kind"] == "barge_in"]
    assert len(barge_ins) == 1 and 0 < barge_ins[0]["latency_ms"] < 1000
    assert (tmp_path / "timeline.html").read_text().startswith("<!DOCTYPE html>")
