"""Mutation testing of the pure core modules, one module at a time against its own fast tests.

Usage (from the repository root, in the dev environment)::

    nice -n 10 python scripts/mutation.py                 # g711, twilio.protocol, observe.noise
    nice -n 10 python scripts/mutation.py noise           # one module
    python scripts/mutation.py --report-only              # re-read the last run, run nothing

Each module is mutated in its own work copy (``.mutmut-work/<module>/``: the package, the tests and a
``pyproject.toml`` whose ``[tool.mutmut]`` names only that module and only its test file), so a
mutant is killed only by the tests written for that module, never by another module's tests that
happen to call it. The copy is rebuilt on every run (mutmut's cache does not notice changed tests).

For every module the script prints killed / survived / total and a *behaviour score*:
killed / (killed + survived - accepted), where *accepted* survivors are those that change no
behaviour a caller can see:

* ``log-only``: the mutant only rewords a message (a string literal with a space in it, e.g. an
  error detail, turned into ``"XX...XX"`` or another case) -- found automatically from the diff;
* ``equivalent``: listed with a reason in ``scripts/mutation_accepted.toml`` after a human looked.

Every other survivor is printed with its diff: write a test that fails under it, or accept it in
that file with the reason. The exit status is 1 when a module scores below ``--fail-under``.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import time
import tokenize
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "pipecat_twilio_realtime"
WORK = ROOT / ".mutmut-work"
ACCEPTED_FILE = Path(__file__).resolve().parent / "mutation_accepted.toml"

# Two flood tests feed 3000 and 100000 messages (seconds per mutant, minutes for a mutant that logs per
# message); the token bucket they exercise is pinned message by message in test_serializer_limits.py.
SLOW_FLOODS = (
    "not test_a_flood_is_bounded_to_twice_real_time and not test_real_time_media_is_never_dropped"
    " and not test_recommended_outbound_size_is_the_one_number"  # reads benchmarks/, not in the work copy
)
SERIALIZER_TESTS = [
    "tests/twilio/test_serializer.py",
    "tests/twilio/test_serializer_params.py",
    "tests/twilio/test_serializer_marks.py",
    "tests/twilio/test_serializer_counters.py",
    "tests/twilio/test_serializer_hangup.py",
    "tests/twilio/test_serializer_hooks.py",
    "tests/twilio/test_idle_clears.py",
    "tests/twilio/test_serializer_limits.py",
    "tests/test_logsafe.py",
    "tests/twilio/test_hostile_input.py",
    "tests/twilio/test_serializer_batching.py",
    "tests/twilio/test_serializer_stream_clock.py",
    "tests/observe/test_observer_wire.py",
    "tests/twilio/test_call_update.py",
    "-k",
    SLOW_FLOODS,
]
SECURITY_TESTS = [
    "tests/twilio/test_security.py",
    "tests/twilio/test_webhook_body.py",
    "tests/twilio/test_stream_signature.py",
    "tests/twilio/test_call_limits.py",
    "tests/twilio/test_binding.py",
    "tests/twilio/test_serializer_limits.py",
    "tests/test_logsafe.py",
    "-k",
    SLOW_FLOODS,
]
# WarnOnce logs at depth=1 so a line names its caller; one test checks that name, which under mutmut is
# the trampoline wrapping the mutated WarnOnce (the name is checked in the ordinary suite; the depth
# mutants are accepted in mutation_accepted.toml for that reason).
LOGSAFE_TESTS = [
    *SECURITY_TESTS[:-1],
    SECURITY_TESTS[-1] + " and not test_warn_once_lines_name_the_caller_not_the_helper",
]
# The realtime test files also hold calls that run in real time (seconds each): only their unit-level
# tests are selected, so each mutant costs a fraction of a second. Five canaries read the service
# class's own members, where mutmut adds one trampoline per mutant: they cannot pass on a mutated copy
# (the canaries pin the stock Pipecat service, not our logic, and run in the ordinary suite).
REALTIME_TESTS = [
    "tests/realtime/test_reply_guard.py",
    "tests/realtime/test_canaries.py",
    "tests/realtime/test_service.py",
    "tests/realtime/test_session_pinning.py",
    "tests/realtime/test_caller_audio_path.py",
    "tests/realtime/test_reply_audio_path.py",
    "tests/realtime/test_truncation.py",
    "tests/realtime/test_truncation_on_twilio_clock.py",
    "tests/realtime/test_service_errors.py",
    "tests/realtime/test_call_end_audio.py",
    "tests/realtime/test_usage_cost.py",
    "tests/realtime/test_service_construction.py",
    "tests/realtime/test_service_url_from_env.py",
    "-k",
    "not test_plain_turn and not test_caller_audio_goes_on and not test_barge_in_clears"
    " and not test_a_lost_openai_session and not test_audio_before_the_session"
    " and not test_the_session_time_limit and not test_a_stop_mid_reply"
    " and not test_no_seam_with_the_stock_service_has_changed and not test_the_seams_are_read_from_the_class"
    " and not test_the_canary_catches",
]

MODULES: dict[str, list[str]] = {
    "g711": ["tests/test_g711.py"],
    "twilio.protocol": ["tests/twilio/test_protocol.py", "tests/twilio/test_outbound_messages.py"],
    "observe.noise": ["tests/observe/test_noise.py"],
    "twilio.serializer": SERIALIZER_TESTS,
    "twilio.rest": SERIALIZER_TESTS,
    "twilio.security": SECURITY_TESTS,
    "twilio.binding": SECURITY_TESTS,
    "twilio.limits": SECURITY_TESTS,
    "_logsafe": LOGSAFE_TESTS,
    "realtime.service": REALTIME_TESTS,
    "realtime.playback": REALTIME_TESTS,
    "realtime.reply_audio": REALTIME_TESTS,
    "realtime.passthrough": ["tests/realtime/test_passthrough.py"],
    "realtime.reply_guard": ["tests/realtime/test_reply_guard.py"],
    "realtime.voices": REALTIME_TESTS,
    "realtime.session_format": REALTIME_TESTS,
    "observe.observer": [
        "tests/observe/test_call_counts.py",
        "tests/observe/test_caller_levels.py",
        "tests/observe/test_call_summary.py",
        "tests/observe/test_noise_alarm.py",
        "tests/observe/test_observer_wire.py",
        "tests/observe/test_twilio_buffer_observer.py",
        "tests/observe/test_summary_line.py",
        "tests/observe/test_noise_chunks.py",
        "tests/observe/test_levels_window.py",
        "tests/observe/test_observer_finds_its_parts.py",
        "tests/observe/test_recording_hooks.py",
        "tests/observe/test_recording_reconnects.py",
    ],
    "recommended": ["tests/test_recommended.py"],
    "observe.twilio_buffer": [
        "tests/observe/test_twilio_buffer.py",
        "tests/observe/test_twilio_buffer_observer.py",
        "tests/observe/test_buffer_estimator_edges.py",
    ],
}
"""Each module (dotted below the package) and the pytest arguments selecting the fast tests that own it."""

MEASURED_ONLY = frozenset(m for m in MODULES if m.startswith("realtime.") and m != "realtime.service")
"""Modules whose score is measured and reported but not held to ``--fail-under``."""

DETECTED = {"killed", "timeout", "segfault", "suspicious", "caught by type check"}
UNDETECTED = {"survived", "no tests"}


@dataclass
class ModuleResult:
    """One module's mutants by status, and the survivors accepted with why."""

    module: str
    status: dict[str, str] = field(default_factory=dict)
    accepted: dict[str, str] = field(default_factory=dict)
    diffs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def names(self, statuses: set[str]) -> list[str]:
        """The mutant names whose status is one of ``statuses``."""
        return sorted(n for n, s in self.status.items() if s in statuses)

    @property
    def killed(self) -> int:
        """Mutants some test failed under."""
        return len(self.names(DETECTED))

    @property
    def survived(self) -> int:
        """Mutants every test passed under (accepted ones included)."""
        return len(self.names(UNDETECTED))

    @property
    def score(self) -> float:
        """Killed share of the mutants that change behaviour."""
        relevant = self.killed + self.survived - len(self.accepted)
        return 100.0 * self.killed / relevant if relevant else 100.0


def _toml_str(text: str) -> str:
    """A TOML literal string (no escapes are read inside single quotes)."""
    assert "'" not in text, text
    return f"'{text}'"


def _mutmut_config(module: str, tests: list[str]) -> str:
    """The ``[tool.mutmut]`` table for one module: the shared settings, this module, its tests."""
    shared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    patterns = ", ".join("'" + p + "'" for p in shared.get("do_not_mutate_patterns", []))
    cli_args = ", ".join(f'"{a}"' for a in shared.get("pytest_add_cli_args", []))
    return (
        "[tool.mutmut]\n"
        f'source_paths = ["{PACKAGE}"]\n'
        f'only_mutate = ["{PACKAGE}/{module.replace(".", "/")}.py"]\n'
        f"pytest_add_cli_args_test_selection = [{', '.join(_toml_str(t) for t in tests)}]\n"
        f"pytest_add_cli_args = [{cli_args}]\n"
        f"do_not_mutate_patterns = [{patterns}]\n"
    )


def _prepare(module: str) -> Path:
    """Make a fresh work copy of the sources and tests (mutmut's cache would miss changed tests)."""
    work = WORK / module
    work.mkdir(parents=True, exist_ok=True)
    for name in (PACKAGE, "tests", "mutants"):
        shutil.rmtree(work / name, ignore_errors=True)
        if name == "mutants":
            continue
        shutil.copytree(
            ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
        )
    text = (ROOT / "pyproject.toml").read_text()
    start = text.index("[tool.mutmut]")
    following = re.search(r"^\[", text[start + 1 :], flags=re.MULTILINE)
    end = start + 1 + following.start() if following else len(text)
    config = _mutmut_config(module, MODULES[module])
    (work / "pyproject.toml").write_text(text[:start] + config + text[end:])
    return work


def _env() -> dict[str, str]:
    # The package must come from mutmut's copy, never from a PYTHONPATH or another checkout.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _mutmut(work: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(  # noqa: S603 - a fixed command line
        [sys.executable, "-m", "mutmut", *args],
        cwd=work,
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if check and done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"mutmut {' '.join(args)} failed in {work} (exit {done.returncode})")
    return done.stdout


def _string_tokens(line: str) -> list[tuple[int, str]] | None:
    try:
        return [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(line.strip()).readline)]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None


def log_only(diff: str) -> bool:
    """Whether a mutant's diff only rewords message text (one line, only sentence literals changed)."""
    removed = [ln[1:] for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    added = [ln[1:] for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    if len(removed) != 1 or len(added) != 1:
        return False
    before, after = _string_tokens(removed[0]), _string_tokens(added[0])
    if before is None or after is None or len(before) != len(after):
        return False
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    return bool(changed) and all(
        b[0] == a[0] == tokenize.STRING and " " in b[1] and " " in a[1] for b, a in changed
    )


def run_module(module: str, *, max_children: int, report_only: bool) -> ModuleResult:
    """Mutate one module against its own tests and classify the survivors."""
    result = ModuleResult(module)
    work = WORK / module if report_only else _prepare(module)
    started = time.monotonic()
    if not report_only:
        _mutmut(work, "run", "--max-children", str(max_children), check=False)
    result.seconds = time.monotonic() - started
    for line in _mutmut(work, "results", "--all", "true").splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name.startswith(f"{PACKAGE}.{module}."):
            result.status[name] = status
    if not result.status:
        raise SystemExit(f"no mutants recorded for {module}: see {work}")
    accepted = tomllib.loads(ACCEPTED_FILE.read_text()).get(module, {}) if ACCEPTED_FILE.exists() else {}
    for name in result.names(UNDETECTED):
        diff = _mutmut(work, "show", name)
        result.diffs[name] = diff
        if log_only(diff):
            result.accepted[name] = "log-only"
        elif name in accepted:
            result.accepted[name] = f"equivalent: {accepted[name]}"
    for name in accepted:
        if result.status.get(name) not in UNDETECTED:
            print(f"note: {name} is accepted in {ACCEPTED_FILE.name} but is now {result.status.get(name)}")
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the modules named on the command line (all by default) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"modules to mutate (default: {', '.join(MODULES)})")
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutant runs (default 2)")
    parser.add_argument("--report-only", action="store_true", help="re-read the last run's results")
    parser.add_argument("--fail-under", type=float, default=95.0, help="behaviour score needed (%%)")
    parser.add_argument("--quiet", action="store_true", help="do not print the survivors' diffs")
    args = parser.parse_args(argv)
    unknown = set(args.modules) - set(MODULES)
    if unknown:
        parser.error(f"unknown module(s) {sorted(unknown)}; choose from {list(MODULES)}")

    results = [
        run_module(m, max_children=args.max_children, report_only=args.report_only)
        for m in args.modules or MODULES
    ]
    failed = False
    for r in results:
        unexplained = [n for n in r.names(UNDETECTED) if n not in r.accepted]
        if unexplained and not args.quiet:
            print(f"\n=== {r.module}: {len(unexplained)} survivor(s) that change behaviour")
            for name in unexplained:
                print(r.diffs[name])
        equivalent = [n for n, why in r.accepted.items() if why.startswith("equivalent")]
        if equivalent and not args.quiet:
            print(f"\n=== {r.module}: accepted as equivalent")
            for name in equivalent:
                print(f"  {name}: {r.accepted[name]}")
    print(
        f"\n{'module':<24}{'killed':>7}{'survived':>9}{'accepted':>9}{'total':>7}{'behaviour':>11}{'time':>8}"
    )
    for r in results:
        measured = r.module in MEASURED_ONLY
        failed |= r.score < args.fail_under and not measured
        print(
            f"{r.module:<24}{r.killed:>7}{r.survived:>9}{len(r.accepted):>9}{len(r.status):>7}"
            f"{r.score:>10.1f}%{r.seconds:>7.0f}s" + ("  (measured, no target)" if measured else "")
        )
    print("(accepted = survivors that only reword a message, or are listed as equivalent)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
