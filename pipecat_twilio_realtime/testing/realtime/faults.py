"""The stand-in's misbehaviour switches: each one a way a real server (or network) lets a bot down.

Pass them as ``RealtimeStandIn(faults=Faults(...))`` (the older keyword switches still work). Faults that
happen once (a stall, a drop) count replies and connections across the whole stand-in, so the session a
client reconnects to behaves; the others hold for every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from ... import g711
from .replies import pcm24k_from_ulaw
from .session import PCM_24K

__all__ = ["Faults", "NoiseKind", "refused_url", "unused_port"]

NoiseKind = Literal["pcm16", "white", "buzz"]


@dataclass(frozen=True)
class Faults:
    """Which misbehaviours are on (all off by default).

    Parameters:
        reply_format_override: ``"audio/pcm"``: confirm ``audio/pcm`` 24 kHz whatever the session asks, and
            send PCM16 24 kHz deltas.
        close_mid_reply: Close the socket (1011) halfway through a reply: ``True`` the first reply, ``k`` the
            k-th reply of the stand-in (counting every connection), once.
        error_after_session: Send a ``server_error`` right after the first ``session.updated``.
        session_confirm_delay: Seconds to wait before answering a ``session.update``.
        session_limit_s: End each session after this many seconds (``error`` ``session_expired``, a close).
        handshake_status: Answer the websocket handshake with this HTTP status (e.g. 401, a bad API key).
        hang_handshake: Accept TCP connections but never answer the websocket handshake.
        never_confirm: Never send ``session.updated``.
        stall_s: Send nothing for this many seconds halfway through reply ``stall_at_reply`` (once); the
            socket stays open.
        stall_at_reply: Which reply of the stand-in stalls (1 = the first).
        drop_after_s: Close the first connection (1011) this many seconds after it opened.
        reply_noise: Confirm ``audio/pcmu`` but send reply audio that is not μ-law speech: ``"pcm16"`` (the
            clip decoded to PCM16 and repeated to 24 kHz), ``"white"`` noise, a full-scale ``"buzz"``, or a
            WAV file's bytes as they are (header included).
        oversize_delta_bytes: Send one ``response.output_audio.delta`` of this many μ-law bytes at the start
            of the first reply (a message beyond the client's ``max_size``).
    """

    reply_format_override: Literal["audio/pcm"] | None = None
    close_mid_reply: bool | int = False
    error_after_session: bool = False
    session_confirm_delay: float = 0.0
    session_limit_s: float | None = None
    handshake_status: int | None = None
    hang_handshake: bool = False
    never_confirm: bool = False
    stall_s: float | None = None
    stall_at_reply: int = 1
    drop_after_s: float | None = None
    reply_noise: NoiseKind | Path | None = None
    oversize_delta_bytes: int | None = None

    SERVER_ERROR = "The server had an error while processing your request (stand-in misbehaviour)"
    SESSION_EXPIRED = "Your session hit the maximum duration of 60 minutes."

    def confirmed_output_format(self) -> dict[str, Any] | None:
        """The output format to confirm whatever the session says, or ``None`` to confirm the truth."""
        return dict(PCM_24K) if self.reply_format_override is not None else None

    def sends_pcm(self, output_format: str) -> bool:
        """Whether reply audio goes out as PCM16 24 kHz (asked for, or forced by the override)."""
        return self.reply_format_override == "audio/pcm" or output_format == "audio/pcm"

    def closes_at(self, chunk_index: int, chunks: int, reply_number: int = 1) -> bool:
        """Whether to close the socket instead of sending this chunk (halfway through the chosen reply)."""
        which = 1 if self.close_mid_reply is True else int(self.close_mid_reply)
        return bool(self.close_mid_reply) and reply_number == which and chunk_index == chunks // 2

    def stalls_at(self, chunk_index: int, chunks: int, reply_number: int) -> bool:
        """Whether to go quiet for :attr:`stall_s` before sending this chunk."""
        return bool(self.stall_s) and reply_number == self.stall_at_reply and chunk_index == chunks // 2

    def errors_after_update(self, first_update: bool) -> bool:
        """Whether a ``server_error`` follows this ``session.updated``."""
        return self.error_after_session and first_update

    def noisy(self, ulaw: bytes, rng: random.Random, offset: int) -> bytes:
        """The reply chunk as :attr:`reply_noise` mangles it (``ulaw`` itself when off).

        Args:
            ulaw: The clip chunk.
            rng: The stand-in's random source (seeded: runs repeat).
            offset: Where the chunk starts in the reply, in bytes (a WAV file is read from there on).
        """
        kind = self.reply_noise
        if kind is None:
            return ulaw
        if kind == "pcm16":
            return pcm24k_from_ulaw(ulaw)
        if kind == "white":
            return g711.encode(rng.randbytes(2 * len(ulaw)))
        if kind == "buzz":  # a 400 Hz square wave at full scale: 0x00/0x80 are μ-law's loudest codes
            return bytes(0x00 if (offset + i) % 20 < 10 else 0x80 for i in range(len(ulaw)))
        data = Path(kind).read_bytes()
        return data[offset : offset + len(ulaw)] or ulaw

    def handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        """``process_request`` for the server: refuse the handshake with :attr:`handshake_status`."""
        if self.handshake_status is None:
            return None
        status = HTTPStatus(self.handshake_status)
        body = f'{{"error": {{"message": "stand-in: {status.phrase}", "code": {status.value}}}}}\n'
        return connection.respond(status, body)


async def swallow_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept a TCP connection and read whatever comes, never answering (a handshake that never completes)."""
    try:
        while await reader.read(4096):
            pass
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (just freed; nobody else should take it in a test)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def refused_url() -> str:
    """A Realtime URL whose connection is refused: a closed port on 127.0.0.1."""
    return f"ws://127.0.0.1:{unused_port()}/v1/realtime"
