"""The suite's own schedule: the slow files in conftest exist and go first; xdist takes one at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import SLOW_FILES

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
