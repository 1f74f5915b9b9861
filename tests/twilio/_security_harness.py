"""Shared by the security test files: Twilio's signature with our token, fake requests and sockets."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from twilio.request_validator import RequestValidator

TOKEN = "tok-0123456789abcdef-secret"


HOST = "bot.example"


def sign(url: str, params: dict[str, Any] | None = None, algorithm: str = "HMAC_SHA1") -> str:
    """The ``X-Twilio-Signature`` Twilio would send for ``url`` and ``params``, signed with :data:`TOKEN`."""
    return RequestValidator(TOKEN).compute_signature(url, params or {}, algorithm)


class FakeWebSocket:
    """What the validator reads from a Starlette ``WebSocket``, and what ``close`` was called with."""

    def __init__(
        self,
        headers: dict[str, str],
        path: str = "/ws",
        scheme: str = "ws",
        query: str = "",
        client: Any = None,
    ) -> None:
        self.headers = headers
        self.url = SimpleNamespace(scheme=scheme, path=path, query=query)
        self.client = client
        self.closed: list[int] = []

    async def close(self, code: int) -> None:
        self.closed.append(code)


class BadUrl:
    """A connection whose URL Starlette cannot decode (a non-UTF-8 query)."""

    headers: dict[str, str] = {"host": HOST}  # noqa: RUF012 - read only

    @property
    def url(self) -> Any:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
