"""A stream flooding 4,000 media/s does not hurt a normal call on the same bot process.

One normal call (greeting, two questions, each reply heard to its end) runs alone, then again beside a
bound stream that floods 4,000 ``media`` messages a second (80x real time). The serializer's
2x-real-time cut drops the flood's excess before it becomes pipeline frames or OpenAI appends, so the
neighbour's reply latency and the gaps its caller hears stay close to the quiet run. The benchmark
(``python benchmarks/bench_soak.py --no-soak``) adds the same flood with the cut disabled.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_flood  # noqa: E402

RATE = 4000
LATENCY_SLACK_MS = 60.0
"""Added to the 10 % the neighbour's worst reply latency may grow by: one busy moment of a shared machine."""


async def test_a_flood_beside_a_call_leaves_its_replies_and_playout_alone() -> None:
    # both calls hear the stand-in's shortest line (2.2 s) as greeting and both answers, not its 4.2 s ones
    quiet, flooded = await bench_flood.flood_vs_neighbour(RATE, uncut=False, reply_clip="caller_interrupt")

    flood_s = flooded.flood_sent / RATE  # the flooder keeps its rate: this is how long it flooded
    assert flood_s >= 0.8 * flooded.call_s  # it really flooded, for the whole call
    # what the flood got through to OpenAI: 2x real time, plus the bucket's 2 s burst at 2x
    assert flooded.appended_s - quiet.appended_s <= 2 * (flood_s + 2.0) + 0.5
    assert len(flooded.latencies_ms) == len(quiet.latencies_ms) == 2
    assert max(flooded.latencies_ms) <= 1.1 * max(quiet.latencies_ms) + LATENCY_SLACK_MS
    assert flooded.gap_count <= quiet.gap_count and flooded.gap_ms <= quiet.gap_ms + 20
