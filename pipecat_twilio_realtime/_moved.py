"""The 0.1 module paths that moved in 0.2.0: each old path is an alias of its new module until 0.3.0."""

import importlib
import sys
import warnings


def alias(old: str, new: str) -> None:
    """Make module ``old`` the module ``new`` (same object), with a one-time DeprecationWarning.

    Args:
        old: The importing shim's ``__name__`` (``pipecat_twilio_realtime.<old>``).
        new: The new path below the package, e.g. ``"twilio.protocol"``.
    """
    target = f"pipecat_twilio_realtime.{new}"
    warnings.warn(
        f"{old} moved to {target} in 0.2.0 and goes away in 0.3.0; "
        "import the public names from pipecat_twilio_realtime",
        DeprecationWarning,
        stacklevel=3,
    )
    module = importlib.import_module(target)
    if old == "__main__":  # python -m on the old path of a command
        module.main()
    else:
        sys.modules[old] = module
