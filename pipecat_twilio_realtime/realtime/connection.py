"""Opening the Realtime websocket with chosen limits; naming what went wrong in words a person can act on."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, PayloadTooBig
from websockets.typing import Data

__all__ = ["MAX_MESSAGE_BYTES", "WatchedConnection", "connect_failure", "loss_reason", "open_realtime"]

MAX_MESSAGE_BYTES = 4 * 2**20
"""Largest Realtime message accepted (websocket ``max_size``).

A ``response.output_audio.delta`` carrying N seconds of μ-law is ``N * 8000 * 4 / 3`` bytes of base64: the
websockets default (1 MiB) ends the session on a single delta of ~98 s, which a real server does not send,
but a ``session.updated`` with long instructions and many tools, or a ``conversation.item.retrieved`` of a
long reply, can come near it. 4 MiB (~390 s of audio in one message) leaves that room while still
refusing a runaway message before it is buffered whole.
"""


class WatchedConnection(ClientConnection):
    """A client connection that remembers when the server last sent a message (for stall detection)."""

    last_message_at: float = 0.0

    async def __aiter__(self) -> AsyncIterator[Data]:
        """Iterate on incoming messages, stamping the time of each."""
        async for message in super().__aiter__():
            self.last_message_at = time.monotonic()
            yield message


async def open_realtime(
    url: str, headers: dict[str, str], *, open_timeout: float, max_size: int
) -> WatchedConnection:
    """Open the websocket; raise what ``websockets`` raises (see :func:`connect_failure`).

    Args:
        url: The Realtime URL (with its ``model`` query).
        headers: Handshake headers (the API key among them: never logged).
        open_timeout: Seconds allowed for TCP, TLS and the websocket handshake together.
        max_size: Largest message accepted.

    Returns:
        The open connection.
    """
    websocket = await connect(
        url,
        additional_headers=headers,
        open_timeout=open_timeout,
        max_size=max_size,
        create_connection=WatchedConnection,
    )
    assert isinstance(websocket, WatchedConnection)
    websocket.last_message_at = time.monotonic()
    return websocket


def _where(url: str) -> str:
    """The URL without its query (the model name is not the point; a key never belongs in a URL)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def connect_failure(error: BaseException, url: str, open_timeout: float) -> str:
    """Say why the Realtime websocket did not open, in words that point at the fix.

    Args:
        error: What ``open_realtime`` raised.
        url: The URL it tried.
        open_timeout: The handshake bound, in seconds.

    Returns:
        One sentence, e.g. ``"OpenAI rejected the API key (HTTP 401)"``.
    """
    where = _where(url)
    if isinstance(error, InvalidStatus):
        status = error.response.status_code
        if status == 401:
            return "OpenAI rejected the API key (HTTP 401)"
        if status == 403:
            return "OpenAI refused this API key access to the Realtime API (HTTP 403)"
        if status == 404:
            return f"no Realtime API at {where} (HTTP 404): check the URL and the model name"
        if status == 429:
            return "OpenAI is rate-limiting this account (HTTP 429): check its quota and limits"
        return f"the Realtime server at {where} refused the websocket handshake (HTTP {status})"
    if isinstance(error, TimeoutError):
        return f"could not reach {where}: no websocket handshake within {open_timeout:g} s"
    if isinstance(error, ConnectionRefusedError):
        return f"could not reach {where}: connection refused"
    if isinstance(error, OSError):
        return f"could not reach {where}: {error.strerror or type(error).__name__}"
    return f"could not open the Realtime websocket at {where}: {type(error).__name__}: {str(error)[:120]}"


def loss_reason(error: BaseException | None, max_size: int) -> str:
    """Say why an open Realtime connection ended.

    Args:
        error: The exception the receive loop ended with (``None``: the server closed normally).
        max_size: The ``max_size`` the connection was opened with.

    Returns:
        One short phrase.
    """
    if error is None:
        return "the server closed the connection"
    too_big = f"a Realtime message over {max_size} bytes (the websocket max_size)"
    if isinstance(error, PayloadTooBig) or isinstance(error.__cause__, PayloadTooBig):
        return too_big
    if isinstance(error, ConnectionClosed):
        for frame in (error.sent, error.rcvd):
            if frame is not None and frame.code == 1009:
                return too_big
        code = error.rcvd.code if error.rcvd is not None else None
        return f"the connection closed (code {code})" if code is not None else "the connection dropped"
    return f"{type(error).__name__}: {str(error)[:120]}"
