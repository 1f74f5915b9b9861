"""Fixtures of the command-line tests."""

from __future__ import annotations

import pytest

from ._inprocess import Here


@pytest.fixture
def here(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Here:
    """What running the simulator's ``main()`` in this process needs (``_inprocess.simulate_in``)."""
    return monkeypatch, capsys
