"""Print the CHANGELOG.md section of a release, checking that a tag, the package version and it agree.

    python scripts/release_notes.py 0.1.0            # the notes of 0.1.0
    python scripts/release_notes.py --check-tag v0.1.0  # the same, once the tag matches the version

The release workflow uses it for the GitHub release's notes; it exits 1 with one line naming what disagrees.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def package_version(root: Path = ROOT) -> str:
    """The version in ``pipecat_twilio_realtime/_version.py`` (the one source the build reads)."""
    text = (root / "pipecat_twilio_realtime" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if match is None:
        raise ValueError("no __version__ in pipecat_twilio_realtime/_version.py")
    return match.group(1)


def section(changelog: str, version: str) -> str:
    """The body of the ``## [version]`` section of a Keep a Changelog file.

    Raises:
        ValueError: If there is no such section or it is empty.
    """
    heading = re.compile(rf"^## \[{re.escape(version)}\][^\n]*$", re.MULTILINE)
    found = heading.search(changelog)
    if found is None:
        raise ValueError(f"CHANGELOG.md has no '## [{version}]' section")
    rest = changelog[found.end() :]
    following = re.search(r"^## \[", rest, re.MULTILINE)
    body = (rest[: following.start()] if following else rest).strip()
    body = re.split(r"^\[[^\]]+\]:\s", body, flags=re.MULTILINE)[0].strip()  # link references at the end
    if not body:
        raise ValueError(f"the '## [{version}]' section of CHANGELOG.md is empty")
    return body


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: print the notes, or one line naming the disagreement (exit 1)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("version", nargs="?", help="the version whose section to print, e.g. 0.1.0")
    group.add_argument("--check-tag", metavar="TAG", help="a release tag, e.g. v0.1.0")
    args = parser.parse_args(argv)
    try:
        version = args.version
        if args.check_tag is not None:
            version = args.check_tag.removeprefix("v")
            if version != package_version():
                raise ValueError(
                    f"tag {args.check_tag} does not match the package version {package_version()} "
                    "(pipecat_twilio_realtime/_version.py)"
                )
        print(section((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), version))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
