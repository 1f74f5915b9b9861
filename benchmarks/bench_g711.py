"""μ-law codec cost per 20 ms Twilio frame (160 μ-law bytes / 320 PCM16 bytes), side by side.

    python benchmarks/bench_g711.py [--quick]

Prints the median over repeated runs, in microseconds per frame, for our backend path (what
``g711.encode``/``decode`` use), our pure-Python tables, NumPy table indexing and CPython's
``audioop`` (where importable), with each one's ratio to our backend path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import timeit
import warnings
from collections.abc import Callable

import numpy as np

from pipecat_twilio_realtime import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop
    except ImportError:  # Python 3.13+ without audioop-lts
        audioop = None  # type: ignore[assignment]


def measure(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Median microseconds per call."""
    return statistics.median(t / number * 1e6 for t in timeit.repeat(fn, number=number, repeat=repeat))


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (for smoke tests)")
    args = parser.parse_args()
    number, repeat = (200, 3) if args.quick else (20_000, 7)

    ulaw = os.urandom(160)
    pcm = g711.decode(ulaw)
    dec_table = np.array([g711.decode_sample(c) for c in range(256)], dtype="<i2")
    enc_table = np.frombuffer(
        bytes(g711.encode_sample(u - 65536 if u >= 32768 else u) for u in range(65536)), np.uint8
    )

    rows: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (f"ours ({g711.BACKEND})", lambda: g711.decode(ulaw), lambda: g711.encode(pcm)),
        ("ours (pure tables)", lambda: g711.pure_decode(ulaw), lambda: g711.pure_encode(pcm)),
        (
            "numpy table index",
            lambda: dec_table[np.frombuffer(ulaw, np.uint8)].tobytes(),
            lambda: enc_table[np.frombuffer(pcm, "<u2")].tobytes(),
        ),
    ]
    if audioop is not None:
        rows.append(("audioop", lambda: audioop.ulaw2lin(ulaw, 2), lambda: audioop.lin2ulaw(pcm, 2)))

    results = [(name, measure(dec, number, repeat), measure(enc, number, repeat)) for name, dec, enc in rows]
    base_dec, base_enc = results[0][1], results[0][2]
    print(f"G.711 μ-law, one 20 ms frame, median of {repeat} x {number} calls")
    print(f"{'path':<22} {'decode µs':>10} {'x ours':>7} {'encode µs':>10} {'x ours':>7}")
    for name, dec_us, enc_us in results:
        print(
            f"{name:<22} {dec_us:>10.2f} {dec_us / base_dec:>7.1f} {enc_us:>10.2f} {enc_us / base_enc:>7.1f}"
        )


if __name__ == "__main__":
    main()
