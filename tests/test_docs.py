"""The README is a front door and every page it sends a reader to is there."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPO = "https://github.com/pipecat-twilio-realtime/pipecat-twilio-realtime/blob/main/"


def test_the_readme_stays_a_front_door_with_the_two_commands_on_its_first_screen() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) <= 12 * 1024
    first_screen = "\n".join(readme.splitlines()[:30])
    assert "pipecat_twilio_realtime.cli.simulate" in first_screen
    assert "python -m pytest -q -n 8" in first_screen


def test_every_repository_link_in_the_readme_names_a_file_that_exists() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = [t[len(REPO) :] for t in re.findall(r"\]\(([^)\s]+)\)", readme) if t.startswith(REPO)]
    assert any(t.startswith("docs/") for t in targets)
    assert [t for t in targets if not (ROOT / t.split("#")[0]).is_file()] == []


def test_every_relative_link_in_the_docs_names_a_file_that_exists() -> None:
    broken = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if target.startswith(("https://", "http://", "#", "mailto:")):
                continue
            if not (page.parent / target.split("#")[0]).exists():
                broken.append(f"{page.name}: {target}")
    assert broken == []
