"""One bot process over ~200 short mixed calls: memory, fds, threads and asyncio tasks stay flat.

The example app runs under uvicorn in its own process (``benchmarks/bench_soak.py``), signed, against the
Realtime stand-in: normal calls, start-only streams, calls dropped without ``stop`` (close and TCP abort),
refusals (bad signature, forged token, over the cap). Samples are taken when the bot is idle, after a
warm-up. The long run (2,000 calls) is ``python benchmarks/bench_soak.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_soak  # noqa: E402

RSS_BOUND_MB = 3.0
"""Growth allowed over the ~140 calls measured after a ~140-call warm-up (RSS rises ~6 MB over the first
~120 calls, then +0.9 MB was measured over the next 470)."""
FD_SLACK = 10
"""Idle connections a pool may still hold when sampled (the bot's REST client keeps its hang-up
connections alive a while: measured 13-22 fds idle over 590 calls, with no trend)."""
OBJECTS_PER_CALL = 3.0
"""gc-tracked objects the measured calls may leave behind, per call: +0.3 measured alone, +2.5 once under
a loaded `-n 8` run (calls still settling when sampled), +0.02 over 2,180 calls in the long soak; keeping
every call's summary (before ``SUMMARIES_KEPT``) left +5.8, which this still fails."""


async def test_resources_stay_flat_over_two_hundred_mixed_calls() -> None:
    result = await bench_soak.soak(calls=100, concurrency=8, warmup=100, sample_every=50)

    outcomes = result.outcomes
    assert sum(outcomes.values()) >= 200, outcomes
    # question, reply: ~60 normal calls. A loaded CI machine once left 11 unanswered (not yet explained;
    # other tests pin replies). The soak is about what calls leave behind, so 40 answered are enough.
    assert outcomes["normal"] + outcomes["normal no reply"] >= 50, outcomes
    assert outcomes["normal"] >= 40 and len(result.latencies_s) >= 40, outcomes
    assert outcomes["start_only closed by bot"] >= 30, outcomes  # the inactivity bound ended them
    assert outcomes["dropped"] >= 10 and outcomes["aborted"] >= 10, outcomes
    assert outcomes["refused 403"] >= 10, outcomes  # bad handshake signature
    assert outcomes["bad_token closed by bot"] >= 10, outcomes  # forged binding token
    # of the four cap probes, one may be inconclusive on a loaded machine (a filler timed out meanwhile)
    assert outcomes["over cap refused 403"] >= 2 and outcomes["webhook busy"] >= 2, outcomes
    assert not [k for k in outcomes if "ACCEPTED" in k or "ANSWERED" in k or "NOT CLOSED" in k], outcomes
    assert not [k for k in outcomes if "VIOLATION" in k], outcomes

    baseline = result.samples[0][1]
    drift = result.drift()
    measured = result.samples[-1][0] - result.samples[0][0]
    assert drift["rss_kb"] <= RSS_BOUND_MB * 1024, result.samples
    assert drift["objects"] <= OBJECTS_PER_CALL * measured, result.samples
    assert all(s["threads"] == baseline["threads"] for _, s in result.samples), result.samples
    assert all(s["tasks"] <= baseline["tasks"] for _, s in result.samples), result.samples
    assert all(s["fds"] <= baseline["fds"] + FD_SLACK for _, s in result.samples), result.samples
