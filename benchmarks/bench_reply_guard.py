"""The reply noise guard's cost per 20 ms of reply audio, beside the μ-law decode every reply pays anyway.

    python benchmarks/bench_reply_guard.py [--quick]

Feeds a shipped speech clip through ``ReplyGuard`` in 20 ms deltas (a new item every 4 s, as replies do)
and reports the median microseconds per 20 ms over repeats: the guard on its own, and ``g711.decode`` of
the same bytes (what the service does to every delta) for scale.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from pipecat_twilio_realtime import g711
from pipecat_twilio_realtime.realtime.reply_guard import ReplyGuard
from pipecat_twilio_realtime.testing import load_clip

SPEECH_SET = Path(__file__).resolve().parents[1] / "tests" / "data" / "speech" / "speech_set.ulaw"


def per_frame_us(work: Callable[[], int], repeat: int) -> float:
    """Median µs per 20 ms frame of ``work`` (which returns how many frames it did)."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        frames = work()
        runs.append((time.perf_counter() - start) / frames * 1e6)
    return statistics.median(runs)


def main() -> None:
    """Run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (for smoke tests)")
    args = parser.parse_args()
    audio = SPEECH_SET.read_bytes() if SPEECH_SET.exists() and not args.quick else load_clip("bot_answer")
    deltas = [audio[i : i + 160] for i in range(0, len(audio) - 159, 160)]
    repeat = 3 if args.quick else 15

    def guard() -> int:
        g = ReplyGuard()
        for n, delta in enumerate(deltas):
            if n % 200 == 0:
                g.start()
            g.feed(delta)
        return len(deltas)

    def decode() -> int:
        for delta in deltas:
            g711.decode(delta)
        return len(deltas)

    guard_us, decode_us = per_frame_us(guard, repeat), per_frame_us(decode, repeat)
    print(f"reply guard, per 20 ms of reply audio ({len(deltas)} frames, median of {repeat})")
    print(f"  ReplyGuard.feed        {guard_us:8.2f} µs")
    print(f"  g711.decode (for scale){decode_us:8.2f} µs")
    print(f"  share of one core at 50 frames/s: {guard_us * 50 / 1e6:.3%} per call")


if __name__ == "__main__":
    main()
