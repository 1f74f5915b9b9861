"""The 0.1 module paths that moved in 0.2.0: each old path is an alias of its new module until 0.3.0.

One import hook instead of a file per old path: importing ``pipecat_twilio_realtime.serializer`` (say)
warns once (``DeprecationWarning``) and gives the very module ``pipecat_twilio_realtime.twilio.serializer``;
``python -m`` on an old command path runs the new command.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from types import CodeType, ModuleType

PACKAGE = "pipecat_twilio_realtime"

MOVED = {
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
"""Old path below the package → new path below the package."""


class _AliasLoader(importlib.abc.Loader):
    """Loads an old path as the already imported new module (the same object)."""

    def __init__(self, new: str) -> None:
        self._new = new
        self._spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self._new)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self._spec  # the import system set the alias's spec on the shared module: undo it

    def get_code(self, fullname: str) -> CodeType:
        """For ``python -m`` on the old path: run the new module as ``__main__``."""
        source = f"import runpy\nrunpy.run_module({self._new!r}, run_name='__main__', alter_sys=True)\n"
        return compile(source, f"<{fullname}: moved to {self._new}>", "exec")


class _MovedFinder(importlib.abc.MetaPathFinder):
    """Finds the old paths of :data:`MOVED`, and nothing else."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        old = fullname.removeprefix(PACKAGE + ".")
        if old == fullname or old not in MOVED:
            return None
        new = f"{PACKAGE}.{MOVED[old]}"
        warnings.warn(
            f"{fullname} moved to {new} in 0.2.0 and goes away in 0.3.0; "
            "import the public names from pipecat_twilio_realtime",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new))


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
