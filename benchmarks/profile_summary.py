"""Own CPU time of a bot profile, grouped by where the code lives: asyncio, Pipecat's parts, ours, the rest.

    BENCH_PROFILE=/tmp/prof python benchmarks/bench_stacks.py --load-only --calls 2 --seconds 15 --repeats 1
    python benchmarks/profile_summary.py /tmp/prof.ours /tmp/prof.stock

Each column is one profile (``_bot_server.py`` writes ``$BENCH_PROFILE.<stack>`` on SIGTERM). The event
loop's idle wait (``epoll.poll``) is left out: what is shown is the time the process was busy.
"""

from __future__ import annotations

import argparse
import pstats
from collections import Counter

IDLE = "<method 'poll' of 'select.epoll' objects>"


def group(filename: str, function: str) -> str | None:
    """The group a function's own time counts under (``None``: the idle wait)."""
    if function == IDLE:
        return None
    if "pipecat_twilio_realtime/" in filename:
        return "ours: " + filename.split("pipecat_twilio_realtime/", 1)[1]
    if "site-packages/" in filename:
        parts = filename.split("site-packages/", 1)[1].split("/")
        return "/".join(parts[:2]) if parts[0] == "pipecat" and len(parts) > 2 else parts[0]
    if "/asyncio/" in filename:
        return "asyncio"
    if filename == "~":  # a C function: name it
        return "C: " + function.strip("<>").split(" of ")[0].replace("method ", "").replace("built-in ", "")
    return "stdlib/other"


def summarize(path: str) -> Counter[str]:
    """Own time per group for one profile."""
    totals: Counter[str] = Counter()
    stats = pstats.Stats(path).stats  # type: ignore[attr-defined]
    for (filename, _line, function), (_cc, _nc, own, _cum, _callers) in stats.items():
        key = group(filename, function)
        if key is not None:
            totals[key] += own
    return totals


def main() -> None:
    """Print the groups, largest first, one column per profile, with each column's busy total."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profiles", nargs="+")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    columns = [summarize(p) for p in args.profiles]
    keys = sorted({k for c in columns for k in c}, key=lambda k: -max(c[k] for c in columns))[: args.top]
    names = [p.rsplit(".", 1)[-1][:15] for p in args.profiles]
    print(f"{'own CPU seconds':<44}" + "".join(f"{n:>16}" for n in names))
    print(f"{'busy total':<44}" + "".join(f"{sum(c.values()):>16.3f}" for c in columns))
    for key in keys:
        print(f"  {key[:42]:<42}" + "".join(f"{c[key]:>16.3f}" for c in columns))


if __name__ == "__main__":
    main()
