"""The suite's own schedule: the slow files in conftest exist and go first; xdist takes one at a time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SLOW_FILES, _cache_bytecode_outside_the_tree

ROOT = Path(__file__).resolve().parent.parent


def test_every_slow_file_named_exists() -> None:
    # A renamed or moved file would silently lose its place at the front of the run.
    missing = [name for name in SLOW_FILES if not (ROOT / name).is_file()]
    assert missing == []


def test_slow_files_are_collected_first_longest_first(request: pytest.FixtureRequest) -> None:
    session = request.session
    files = list(dict.fromkeys(item.path.relative_to(ROOT).as_posix() for item in session.items))
    listed = [name for name in files if name in SLOW_FILES]
    assert files[: len(listed)] == listed  # none of the others before them
    weights = [SLOW_FILES[name] for name in listed]
    assert weights == sorted(weights, reverse=True)


def test_xdist_hands_out_one_test_at_a_time_unless_told(pytestconfig: pytest.Config) -> None:
    # The run this test is in: no --maxschedchunk on the command line means 1 (see conftest).
    chunk = getattr(pytestconfig.option, "maxschedchunk", None)
    if "--maxschedchunk" not in " ".join(pytestconfig.invocation_params.args):
        assert chunk == 1


def test_with_bytecode_writes_off_it_is_cached_outside_the_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "pycache_prefix", None)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    _cache_bytecode_outside_the_tree()
    prefix = ROOT / ".pytest_cache" / "pycache"
    assert (sys.dont_write_bytecode, sys.pycache_prefix) == (False, str(prefix))
    assert "PYTHONDONTWRITEBYTECODE" not in os.environ and os.environ["PYTHONPYCACHEPREFIX"] == str(prefix)
    child = subprocess.run(
        [sys.executable, "-c", "import sys; print(sys.dont_write_bytecode, sys.pycache_prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.split() == ["False", str(prefix)]  # the bots and simulators tests start, too


def test_a_prefix_of_your_own_or_bytecode_allowed_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "pycache_prefix", "/elsewhere")
    _cache_bytecode_outside_the_tree()
    assert (sys.dont_write_bytecode, sys.pycache_prefix) == (True, "/elsewhere")
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(sys, "pycache_prefix", None)
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    _cache_bytecode_outside_the_tree()
    assert sys.pycache_prefix is None and "PYTHONPYCACHEPREFIX" not in os.environ
