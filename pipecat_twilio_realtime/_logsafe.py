"""Make untrusted strings safe to put in a log line: one event stays one line, and no field can be forged.

Every string that came from the wire (stream and call SIDs, mark names, hosts, paths) goes through
:func:`quote_for_log` before it reaches a log line. A plain token (letters, digits, ``_ . : -``, as every
real Twilio SID is) is written bare, so ``stream=MZ…`` stays greppable; anything else is ``repr``'d, so a
newline, a space, an ``=`` or an ANSI escape is shown escaped and inside quotes. Long values are cut.
"""

from __future__ import annotations

import re
from typing import Final

from loguru import logger

__all__ = ["WarnOnce", "quote_for_log"]

_PLAIN: Final = re.compile(r"[A-Za-z0-9_.:\-]+")
DEFAULT_LOG_LIMIT: Final = 64
"""Characters kept from an untrusted value (a Twilio SID is 34)."""


def quote_for_log(value: object, limit: int = DEFAULT_LOG_LIMIT) -> str:
    """Render an untrusted value for a log line.

    Args:
        value: The value (``None`` renders as ``-``; non-strings through ``str``).
        limit: Characters kept before the value is cut (a cut value is always quoted and ends in ``…``).

    Returns:
        The value bare when it is a plain token within ``limit``, else its ``repr`` (escaped, quoted).
    """
    if value is None:
        return "-"
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit and _PLAIN.fullmatch(text):
        return text
    if len(text) > limit:
        text = text[:limit] + "…"
    return repr(text)


class WarnOnce:
    """Log each kind of problem once at a chosen level and its repeats at DEBUG.

    A bad frame every 20 ms must neither flood the log nor hide that it goes on.
    """

    def __init__(self, owner: object, level: str = "WARNING") -> None:
        """Initialize the logger.

        Args:
            owner: What the lines are about (its ``str`` starts each line).
            level: The level of the first line of each kind.
        """
        self._owner = owner
        self._level = level
        self._seen: set[str] = set()

    def __call__(self, kind: str, message: str) -> None:
        """Log ``message``: at the chosen level the first time ``kind`` happens, at DEBUG after that."""
        if kind in self._seen:
            logger.opt(depth=1).debug(f"{self._owner} {message}")
        else:
            self._seen.add(kind)
            logger.opt(depth=1).log(
                self._level, f"{self._owner} {message} (repeats are logged at debug level)"
            )
