"""Bind a media stream to the call whose signed webhook started it.

The handshake signature of a media stream is the same for every call to that URL (replayable), and the
``start`` message is not authenticated at all. What proves a stream belongs to a call is a token the
signed webhook minted for that call's ``CallSid``/``AccountSid``, which Twilio carries back in
``start.customParameters``::

    binder = StreamBinder(auth_token)
    # POST /twiml, after its X-Twilio-Signature checked out:
    token = binder.mint(form["CallSid"], form["AccountSid"])
    stream.parameter(name=BINDING_PARAMETER, value=token)
    # /ws, after Twilio's ``start``, before any OpenAI session or REST call:
    check = binder.verify_start(start)
    if not check.ok: close the socket (reason in check.reason)

The token is stateless (any process holding the secret can check it), short-lived (``ttl_s``) and
carries its own SIDs so a failure can say which part did not match:
``base64url(version ‖ expiry ‖ call SID ‖ account SID ‖ HMAC-SHA256)``, with the HMAC keyed by a sub-key
derived from the secret under a fixed label (so the token is never a raw HMAC of the auth token).
Neither the secret nor a token is ever logged or put in a reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["BINDING_PARAMETER", "BindingCheck", "StreamBinder"]

BINDING_PARAMETER: Final = "stream_binding"
"""The ``<Parameter name=…>`` carrying the token (arrives in ``start.customParameters``)."""

DEFAULT_TTL_S: Final = 300.0
"""Twilio opens the stream within seconds of the webhook; five minutes leaves room for slow clocks."""

_VERSION: Final = 1
_LABEL: Final = b"pipecat-twilio-realtime/stream-binding/v1"
_HEADER: Final = struct.Struct(">BQ")  # version, expiry (whole Unix seconds)
_SID_HEX: Final = 32
_MAC_LEN: Final = 32
_TOKEN_BYTES: Final = _HEADER.size + 2 * (_SID_HEX // 2) + _MAC_LEN
_MAX_TOKEN_CHARS: Final = 200
_SID: Final = re.compile(r"[0-9a-f]{32}")
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]+")


def _sid_bytes(sid: object, prefix: str) -> bytes | None:
    """The 16 bytes of a Twilio SID (``prefix`` + 32 lower-case hex), or ``None`` if it is not one."""
    if not isinstance(sid, str) or len(sid) != 2 + _SID_HEX or not sid.startswith(prefix):
        return None
    digits = sid[2:]
    return bytes.fromhex(digits) if _SID.fullmatch(digits) else None


@dataclass(frozen=True)
class BindingCheck:
    """The outcome of checking a stream-binding token.

    Parameters:
        ok: Whether the token binds this stream to the call it names.
        reason: A short stable code, empty when valid: ``missing``, ``malformed``, ``bad_version``,
            ``bad_sid`` (the stream's own SIDs are not Twilio SIDs), ``tampered`` (the MAC does not
            match: forged, altered, or minted with another secret), ``wrong_call``, ``wrong_account``
            or ``expired``.
        detail: A sentence for the log; never contains the token or the secret.
    """

    ok: bool
    reason: str = ""
    detail: str = ""


class StreamBinder:
    """Mints and verifies short-lived tokens binding a media stream to one call."""

    def __init__(
        self, secret: str | bytes, *, ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.time
    ) -> None:
        """Initialize the binder.

        Args:
            secret: The Twilio auth token or a secret of your own (at least 16 bytes), the same in every
                process that verifies. Never logged.
            ttl_s: Seconds a token stays valid after it is minted.
            clock: Wall clock in Unix seconds (tokens cross processes, so not a monotonic one).

        Raises:
            ValueError: If ``secret`` is shorter than 16 bytes or ``ttl_s`` is not positive.
        """
        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if len(key) < 16:
            raise ValueError("secret must be at least 16 bytes (use the Twilio auth token or a random key)")
        if not ttl_s > 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s!r}")
        self._key = hmac.new(key, _LABEL, hashlib.sha256).digest()
        self._ttl_s = float(ttl_s)
        self._clock = clock

    def __repr__(self) -> str:  # keep the secret out of any log line or traceback
        return f"StreamBinder(ttl_s={self._ttl_s:g})"

    @property
    def ttl_s(self) -> float:
        """Seconds a token stays valid."""
        return self._ttl_s

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()

    def mint(self, call_sid: str, account_sid: str) -> str:
        """Mint a token for one call (call it only after the webhook's signature checked out).

        Args:
            call_sid: The webhook's ``CallSid`` (``CA`` + 32 lower-case hex).
            account_sid: The webhook's ``AccountSid`` (``AC`` + 32 lower-case hex).

        Returns:
            The token (URL-safe base64, no padding, under 100 characters).

        Raises:
            ValueError: If either SID is not a Twilio SID of its kind.
        """
        call, account = _sid_bytes(call_sid, "CA"), _sid_bytes(account_sid, "AC")
        if call is None or account is None:
            raise ValueError("call_sid and account_sid must be Twilio SIDs (CA…/AC… + 32 lower-case hex)")
        expiry = int(self._clock() + self._ttl_s) + 1  # whole seconds, never shorter than ttl_s
        body = _HEADER.pack(_VERSION, expiry) + call + account
        return base64.urlsafe_b64encode(body + self._mac(body)).rstrip(b"=").decode("ascii")

    def verify(self, token: object, call_sid: object, account_sid: object) -> BindingCheck:
        """Check that a token was minted by this secret for exactly this call, and is still fresh.

        Never raises for any input.

        Args:
            token: The token from ``start.customParameters`` (anything: it is untrusted).
            call_sid: ``start.callSid``.
            account_sid: ``start.accountSid``.

        Returns:
            The outcome; ``reason`` names the first check that failed.
        """
        if token is None or token == "":
            return BindingCheck(False, "missing", f"no {BINDING_PARAMETER!r} parameter on the stream")
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
            return BindingCheck(False, "malformed", "the binding token is not a short string")
        if not _B64URL.fullmatch(token):  # b64decode would skip stray characters: be strict
            return BindingCheck(False, "malformed", "the binding token is not URL-safe base64")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return BindingCheck(False, "malformed", "the binding token is not URL-safe base64")
        if len(raw) != _TOKEN_BYTES:
            return BindingCheck(False, "malformed", "the binding token has the wrong length")
        body, mac = raw[:-_MAC_LEN], raw[-_MAC_LEN:]
        version, expiry = _HEADER.unpack_from(body)
        if version != _VERSION:
            return BindingCheck(False, "bad_version", f"binding token version {version} is not {_VERSION}")
        if not hmac.compare_digest(mac, self._mac(body)):
            return BindingCheck(
                False, "tampered", "the binding token's MAC does not match (altered, or another secret)"
            )
        call, account = _sid_bytes(call_sid, "CA"), _sid_bytes(account_sid, "AC")
        if call is None or account is None:
            return BindingCheck(False, "bad_sid", "the stream's callSid/accountSid are not Twilio SIDs")
        offset = _HEADER.size
        if not hmac.compare_digest(body[offset : offset + 16], call):
            return BindingCheck(False, "wrong_call", "the binding token was minted for another call")
        if not hmac.compare_digest(body[offset + 16 : offset + 32], account):
            return BindingCheck(False, "wrong_account", "the binding token was minted for another account")
        now = self._clock()
        if now > expiry:
            return BindingCheck(False, "expired", f"the binding token expired {now - expiry:.0f} s ago")
        return BindingCheck(True)

    def verify_start(self, start: Any) -> BindingCheck:
        """Check Twilio's ``start`` event: its binding parameter against its own ``callSid``/``accountSid``.

        Args:
            start: A :class:`~pipecat_twilio_realtime.twilio.protocol.Start` (anything with
                ``custom_parameters``, ``call_sid`` and ``account_sid``).

        Returns:
            The outcome (see :meth:`verify`).
        """
        params = getattr(start, "custom_parameters", None) or {}
        token = params.get(BINDING_PARAMETER) if hasattr(params, "get") else None
        return self.verify(token, getattr(start, "call_sid", None), getattr(start, "account_sid", None))
