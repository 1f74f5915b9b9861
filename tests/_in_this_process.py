"""Run a command-line entry point or a script in the test's own process, as a subprocess would be run.

A new interpreter costs ~1.5 s of CPU (it imports Pipecat, openai and FastAPI again) and seconds of wall
time on a loaded machine, and tells a test of what a command prints nothing more. Tests whose point is
the process itself keep one (the wheel's files, ``python -m``, the runner bots, the bots the benchmarks
start and measure).
"""

from __future__ import annotations

import runpy
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from loguru import logger


@contextmanager
def worker_sinks_kept(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """While inside, ``logger.remove()`` leaves the worker's sinks alone; sinks added inside go after.

    Entry points replace every log sink with their own on stderr (``logger.remove()`` then
    ``logger.add(sys.stderr, ...)``); the added one writes to the captured stderr, as in a process.
    """
    added: list[int] = []
    real_add, real_remove = logger.add, logger.remove

    def add(*sink: Any, **options: Any) -> int:
        added.append(real_add(*sink, **options))
        return added[-1]

    def remove(handler_id: int | None = None) -> None:
        if handler_id is not None:
            real_remove(handler_id)

    monkeypatch.setattr(logger, "add", add)
    monkeypatch.setattr(logger, "remove", remove)
    try:
        yield
    finally:
        monkeypatch.setattr(logger, "add", real_add)
        monkeypatch.setattr(logger, "remove", real_remove)
        for handler_id in added:
            real_remove(handler_id)


def run_here(
    entry: Callable[[], Any],
    argv: list[str],
    *,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> subprocess.CompletedProcess[str]:
    """Call ``entry()`` with ``sys.argv = argv``: its exit status (returned or raised) and its output."""
    monkeypatch.setattr(sys, "argv", list(argv))
    monkeypatch.setattr(sys, "path", list(sys.path))  # entry points may put their own folders first
    capsys.readouterr()
    with worker_sinks_kept(monkeypatch):
        try:
            returned = entry()
            code = returned if isinstance(returned, int) else 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    out = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out.out, out.err)


def run_script_here(
    script: Path, *args: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> subprocess.CompletedProcess[str]:
    """``python SCRIPT ARGS`` in this process (its folder importable, as Python puts it on ``sys.path``)."""
    monkeypatch.syspath_prepend(str(script.parent))

    def entry() -> None:
        runpy.run_path(str(script), run_name="__main__")

    return run_here(entry, [str(script), *args], monkeypatch=monkeypatch, capsys=capsys)
