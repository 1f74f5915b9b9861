"""Programs from Debian's packages that some tests start themselves (Redis, haproxy, Chromium).

On a machine without them those tests skip with the one command that installs them, so the README's test
command still passes. ``.ci/run`` installs them and sets ``PIPECAT_TWILIO_REQUIRE_TOOLS=1``: there a missing
program fails the test instead, so CI cannot pass by skipping what it was meant to run.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_ENV = "PIPECAT_TWILIO_REQUIRE_TOOLS"

INSTALL = {
    "redis-server": "apt-get install redis-server haproxy",
    "haproxy": "apt-get install redis-server haproxy",
    "chromium": "apt-get install chromium chromium-driver",
    "chromedriver": "apt-get install chromium chromium-driver",
}


def need(program: str) -> str:
    """Return the path of ``program``; skip the test (fail under ``.ci/run``) naming how to install it."""
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path:
        return path
    why = f"{program} is not installed: {INSTALL.get(program, f'install {program}')}"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{why} ({REQUIRE_ENV}=1: CI must run this test)")
    pytest.skip(why)
