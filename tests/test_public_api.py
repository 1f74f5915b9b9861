"""The public surface: what ``import pipecat_twilio_realtime`` promises."""

import importlib.metadata

import pipecat_twilio_realtime as pkg


def test_main_names_import_from_the_package_root() -> None:
    from pipecat_twilio_realtime import TwilioMediaStreamSerializer

    assert TwilioMediaStreamSerializer.__module__ == "pipecat_twilio_realtime.serializer"


def test_all_lists_existing_names_only_and_is_sorted() -> None:
    assert all(hasattr(pkg, name) for name in pkg.__all__)
    assert list(pkg.__all__) == sorted(pkg.__all__)
    public = {
        name
        for name in dir(pkg)
        if not name.startswith("_") and not isinstance(getattr(pkg, name), type(pkg))
    }
    assert public <= set(pkg.__all__), f"public but not in __all__: {public - set(pkg.__all__)}"


def test_version_has_one_source() -> None:
    assert pkg.__version__ == importlib.metadata.version("pipecat-twilio-realtime")


def test_readme_links_work_on_the_pypi_page() -> None:
    """PyPI renders the README without the repository: every link must be absolute."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert targets, "the README links somewhere"
    relative = [t for t in targets if not t.startswith(("https://", "http://", "#", "mailto:"))]
    assert relative == []
