"""Playback marks: how precisely a barge-in is truncated, per mark interval, with and without interpolation.

    python benchmarks/bench_marks.py [--quick] [--intervals 100,250,500,1000]

The caller talks over the greeting at several offsets; the truncate's ``audio_end_ms`` (what the service
tells OpenAI the caller heard) is compared with what the simulated caller had really played when the
``clear`` reached it (positive: the truncate says less than was heard). ``marks`` = the service's
``mark_interval_ms``; ``echoes only`` is the tracker before issue 15 (the latest played echo, no clock),
``interpolated`` the current one (the latest echo + the time since, capped at the next pending mark).
Also: mark requests per second of reply audio (each is a frame through the service and the output
transport and a websocket message to Twilio, and its echo a frame back).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from loguru import logger

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_chunks import barge_in
from bench_stacks import quick_forks_bots


async def main() -> None:
    """Measure each interval both ways and print one row each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (for smoke tests)")
    parser.add_argument("--intervals", default="100,250,500,1000", help="mark_interval_ms values")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    intervals = [500] if args.quick else [int(v) for v in args.intervals.split(",")]
    offsets = [1.0] if args.quick else [0.5, 0.9, 1.3, 1.7, 2.1]
    started = time.monotonic()
    print(
        f"  {'marks':>6} {'tracker':>14} {'heard - truncate (ms), per barge-in':>40} {'median':>7} {'max':>5}"
        f" {'marks/s':>8}"
    )
    for mark_ms in intervals:
        envs = {
            interpolate: {"BENCH_MARK_MS": str(mark_ms), "BENCH_INTERPOLATE": "1" if interpolate else "0"}
            for interpolate in (False, True)
        }
        both: dict[bool, list[tuple[float, float]]] = {}
        if args.quick:  # the smoke test: both trackers' calls at once (their figures then mean little)
            done = await asyncio.gather(*(barge_in(offsets[0], env) for env in envs.values()))
            both = {interpolate: [run] for interpolate, run in zip(envs, done, strict=True)}
        for interpolate, env in envs.items():
            runs = both.get(interpolate) or [await barge_in(after, env) for after in offsets]
            errors = [e for e, _ in runs]
            shown = " ".join(f"{e:.0f}" for e in errors)
            print(
                f"  {mark_ms:>4}ms {'interpolated' if interpolate else 'echoes only':>14} {shown:>40} "
                f"{statistics.median(errors):>7.0f} {max(abs(e) for e in errors):>5.0f} "
                f"{statistics.median(m for _, m in runs):>8.1f}"
            )
    print(f"  ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    asyncio.run(quick_forks_bots(main()))
