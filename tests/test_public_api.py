"""The public surface: what ``import pipecat_twilio_realtime`` promises."""

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pipecat_twilio_realtime as pkg


def test_main_names_import_from_the_package_root() -> None:
    from pipecat_twilio_realtime import TwilioMediaStreamSerializer

    assert TwilioMediaStreamSerializer.__module__ == "pipecat_twilio_realtime.twilio.serializer"


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


def test_readme_code_imports_only_what_exists() -> None:
    """Every ``from …`` import in the README's Python blocks names something that is there."""
    import ast
    import importlib
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    imported: list[tuple[str, str]] = []
    for block in blocks:
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported += [(node.module, alias.name) for alias in node.names]
    ours = [name for module, name in imported if module == "pipecat_twilio_realtime"]
    assert "recommended_worker_params" in ours and "recommended_user_aggregator_params" in ours
    missing = [
        f"{module}.{name}"
        for module, name in imported
        if module.split(".")[0] in ("pipecat", "pipecat_twilio_realtime")
        and not hasattr(importlib.import_module(module), name)
    ]
    assert missing == []


OLD_PATHS = {
    "twilio_protocol": "twilio.protocol",
    "serializer": "twilio.serializer",
    "twilio_security": "twilio.security",
    "call_binding": "twilio.binding",
    "twilio_rest": "twilio.rest",
    "call_limits": "twilio.limits",
    "frames": "twilio.frames",
    "observer": "observe.observer",
    "noise": "observe.noise",
    "metrics": "observe.metrics",
    "performance": "recommended",
    "simulate": "cli.simulate",
    "standin_cli": "cli.standin",
}


def test_every_0_1_module_path_still_imports_the_moved_module_with_a_deprecation_warning() -> None:
    # A fresh interpreter, so each old path is imported for the first time there (the warning comes once).
    code = (
        "import importlib, json, sys, warnings\n"
        "moves = json.loads(sys.argv[1])\n"
        "for old, new in moves.items():\n"
        "    with warnings.catch_warnings(record=True) as seen:\n"
        "        warnings.simplefilter('always')\n"
        "        a = importlib.import_module('pipecat_twilio_realtime.' + old)\n"
        "    b = importlib.import_module('pipecat_twilio_realtime.' + new)\n"
        "    assert a is b, (old, a, b)\n"
        "    msgs = [str(w.message) for w in seen if w.category is DeprecationWarning]\n"
        "    assert any(f'pipecat_twilio_realtime.{old} moved to pipecat_twilio_realtime.{new}' in m\n"
        "               and '0.3.0' in m for m in msgs), (old, msgs)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, json.dumps(OLD_PATHS)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]


def test_python_dash_m_on_an_old_command_path_runs_the_new_command() -> None:
    run = subprocess.run(
        [sys.executable, "-W", "always", "-m", "pipecat_twilio_realtime.standin_cli", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("usage: pipecat-twilio-standin")
    assert "pipecat_twilio_realtime.standin_cli moved to pipecat_twilio_realtime.cli.standin" in run.stderr


def test_the_package_top_level_holds_no_module_per_old_path() -> None:
    top = Path(pkg.__file__).parent
    assert not [old for old in OLD_PATHS if (top / f"{old}.py").exists()]
