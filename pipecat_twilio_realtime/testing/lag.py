"""How late this process's event loop ran: the simulated caller's 20 ms clock lives on it.

A simulated call puts the caller, the network links and often the bot and the stand-in on one loop; when
the machine starves that loop, the caller's playout hears gaps no phone line would. ``LoopLag`` measures
it so a verdict or a benchmark can say so::

    with LoopLag() as lag:
        report = await caller.run()
    print(f"the loop ran up to {lag.max_ms:.0f} ms late")
"""

from __future__ import annotations

import asyncio

__all__ = ["LoopLag"]


class LoopLag:
    """While entered (inside a running loop), the worst lateness of a ``period_s`` sleep, in ms."""

    def __init__(self, period_s: float = 0.02) -> None:
        """Initialize the monitor.

        Args:
            period_s: How often to wake up and measure.
        """
        self.period_s = period_s
        self.max_ms = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(self.period_s)
            self.max_ms = max(self.max_ms, (loop.time() - asked - self.period_s) * 1000)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
