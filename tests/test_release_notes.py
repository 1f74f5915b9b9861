import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("release_notes", ROOT / "scripts" / "release_notes.py")
assert _spec is not None and _spec.loader is not None
release_notes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(release_notes)

CHANGELOG = """# Changelog

## [Unreleased]

### Added
- next thing

## [0.2.0] - 2027-01-02

### Fixed
- a fix

## [0.1.0] - 2026-11-27

### Added
- first

[0.2.0]: https://example.invalid/compare/v0.1.0...v0.2.0
"""


def test_section_is_the_body_between_two_headings():
    assert release_notes.section(CHANGELOG, "0.2.0") == "### Fixed\n- a fix"


def test_last_section_stops_before_link_references():
    assert release_notes.section(CHANGELOG, "0.1.0") == "### Added\n- first"


def test_missing_or_empty_section_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"no '## \[9.9.9\]' section"):
        release_notes.section(CHANGELOG, "9.9.9")
    with pytest.raises(ValueError, match="empty"):
        release_notes.section("## [1.0.0]\n\n## [0.9.0]\n- x\n", "1.0.0")


def test_version_is_not_a_regex():
    with pytest.raises(ValueError):
        release_notes.section("## [0x1x0]\n- x\n", "0.1.0")


def test_check_tag_refuses_a_tag_that_is_not_the_package_version(capsys):
    assert release_notes.main(["--check-tag", "v999.0.0"]) == 1
    err = capsys.readouterr().err
    assert "v999.0.0" in err and release_notes.package_version() in err


def test_package_version_is_the_one_the_package_reports():
    from pipecat_twilio_realtime import __version__

    assert release_notes.package_version() == __version__
