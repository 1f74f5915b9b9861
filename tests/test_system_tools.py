"""The skip-or-fail rule for tests that need a program from Debian's packages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import _system_tools


def test_a_missing_program_skips_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_system_tools.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install redis-server haproxy"):
        _check("redis-server", monkeypatch)


def test_under_ci_a_missing_program_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_system_tools.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium chromium-driver"):
        _check("chromium", monkeypatch)


def test_a_present_program_is_found() -> None:
    assert _system_tools.need("sh").endswith("/sh")


def test_ci_installs_every_program_and_requires_it() -> None:
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert f"export {_system_tools.REQUIRE_ENV}=1" in ci
    pairs = dict(p.split(":") for p in re.findall(r"\b([\w-]+:[\w-]+)\b", ci.split("apt-get")[0]))
    for program, command in _system_tools.INSTALL.items():
        assert program in pairs, program  # checked for and installed when missing
        assert pairs[program] in command.split(), (program, pairs[program], command)
    # the suite runs after the install, with the requirement in force
    assert ci.index(f"export {_system_tools.REQUIRE_ENV}=1") < ci.index("python -m pytest")


def _check(program: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(_system_tools.shutil, "which", lambda *_a, **_k: None)
    return _system_tools.need(program)
