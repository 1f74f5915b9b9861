"""Make untrusted strings safe to put in a log line: one event stays one line, and no field can be forged.

Every string that came from the wire (stream and call SIDs, mark names, hosts, paths) goes through
:func:`quote_for_log` before it reaches a log line. A plain token (letters, digits, ``_ . : -``, as every
real Twilio SID is) is written bare, so ``stream=MZ…`` stays greppable; anything else is ``repr``'d, so a
newline, a space, an ``=`` or an ANSI escape is shown escaped and inside quotes. Long values are cut.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["quote_for_log"]

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
