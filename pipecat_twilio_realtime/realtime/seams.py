"""Where the μ-law service depends on Pipecat's stock Realtime service, read from the class itself."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService

from .service import OpenAIRealtimeMuLawLLMService

__all__ = ["StockSeams", "stock_seams"]


@dataclass(frozen=True)
class StockSeams:
    """Where :class:`OpenAIRealtimeMuLawLLMService` depends on Pipecat's stock service.

    Parameters:
        hooks: Stock methods the class overrides.
        attributes: Stock private attributes and methods the class reads, writes or calls.
    """

    hooks: tuple[str, ...]
    attributes: tuple[str, ...]


def stock_seams(
    cls: type[OpenAIRealtimeLLMService] = OpenAIRealtimeMuLawLLMService,
    stock: type[OpenAIRealtimeLLMService] = OpenAIRealtimeLLMService,
) -> StockSeams:
    """Read the seams from ``cls`` itself, so the list cannot drift from the code (the canaries check it).

    Args:
        cls: The subclass.
        stock: The stock class it extends.

    Returns:
        The overridden hooks and the private names of ``stock`` that ``cls`` touches.
    """
    # Our own classes in the MRO (the service and the base classes it is split into) are read as one.
    package = cls.__module__.split(".")[0]
    ours = [k for k in cls.__mro__ if k.__module__.split(".")[0] == package]
    source = "\n".join(inspect.getsource(k) for k in ours)
    members = {name: value for k in reversed(ours) for name, value in vars(k).items()}
    # A method is a hook if the stock class has it, or if it is private and nothing of ours calls it: then
    # only the stock class did, and a release that drops it leaves ours dead, which the canaries must
    # report. (Public methods of ours that the stock class lacks are our own API, called by apps.)
    hooks = tuple(
        sorted(
            name
            for name, value in members.items()
            if callable(value)
            and not name.startswith("__")
            and (hasattr(stock, name) or (name.startswith("_") and f"self.{name}" not in source))
        )
    )
    declared = {name for k in ours for name in vars(k).get("__annotations__", {})}
    own = set(re.findall(r"self\.(_\w+)\s*(?::[^=\n]+)?=", inspect.getsource(cls.__init__))) | set(members)
    touched = set(re.findall(r"self\.(_\w+)", source)) - own - (declared - _stock_names(stock))
    return StockSeams(hooks=hooks, attributes=tuple(sorted(touched)))


def _stock_names(stock: type[OpenAIRealtimeLLMService]) -> set[str]:
    """Private names the stock class sets in ``__init__`` or defines."""
    return set(re.findall(r"self\.(_\w+)\s*(?::[^=\n]+)?=", inspect.getsource(stock.__init__))) | set(
        dir(stock)
    )
