"""Check Twilio's request signatures on the webhook and on the media-stream websocket handshake.

Twilio signs every webhook and the websocket handshake of a ``<Connect><Stream>`` with
``X-Twilio-Signature``: an HMAC of the **public** URL it requested (plus, for form webhooks, the sorted
POST parameters; the handshake has none). Behind a proxy the URL your app sees is not that one, so the
public URL is rebuilt from ``public_host`` when given (then no request header can change it), else from
``X-Forwarded-Host`` when ``trust_forwarded_headers`` is on (off by default: those headers are client
input unless a proxy you run overwrites them), else from ``Host``. Every host is strictly validated and
the scheme is always the secure one (``https``/``wss``). ``X-Twilio-Webhooks-Signature-Settings`` selects
HMAC-SHA256 when your webhooks are signed that way. The HMAC itself is the ``twilio`` SDK's
``RequestValidator``.

What a valid signature proves: a webhook's, that Twilio sent this request for this call; a handshake's,
only that Twilio once opened *a* stream to this URL (it is the same for every call and replayable). Bind
the stream to its call with :class:`~pipecat_twilio_realtime.twilio.binding.StreamBinder`.

Webhook bodies are read with a byte cap before anything else (:func:`read_body_capped`). Nothing here
raises for hostile input, and nothing logs the auth token or a signature value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import parse_qs, parse_qsl

from loguru import logger
from twilio.request_validator import HMAC_SHA1, HMAC_SHA256, RequestValidator, get_signature_algorithm

from .._logsafe import quote_for_log

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "BodyTooLarge",
    "SignatureCheck",
    "TwilioSignatureValidator",
    "parse_form",
    "read_body_capped",
    "require_twilio_signature",
]

SIGNATURE_HEADER = "x-twilio-signature"
SETTINGS_HEADER = "x-twilio-webhooks-signature-settings"
DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024
"""Largest webhook body read. Twilio's voice webhooks are a few KB; anything near this is hostile."""

_SCHEMES: Final = frozenset({"http", "https", "ws", "wss"})
_WEBSOCKET_SCHEMES: Final = frozenset({"ws", "wss"})
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST: Final = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?")
_ALGORITHMS: Final = frozenset({HMAC_SHA1, HMAC_SHA256})


class BodyTooLarge(ValueError):
    """A request body (declared or streamed) is larger than the cap: answer HTTP 413."""


class _Refused(ValueError):
    """A request whose URL cannot be rebuilt (bad ``Host``/forwarded header); ``code`` says which."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of a signature check.

    Parameters:
        ok: Whether the signature is valid.
        reason: Why not (empty when valid); untrusted parts quoted; never the signature or the token.
        url: The public URL the signature was checked against (empty when it could not be built).
        code: A short stable code, empty when valid: ``missing_signature``, ``mismatch``,
            ``bad_algorithm``, ``bad_host``, ``bad_forwarded_proto``, ``bad_forwarded_host``,
            ``bad_url``, ``bad_body``, ``body_hash_mismatch``, ``body_too_large`` or ``disconnected``.
        params: The webhook's form parameters, parsed from the capped body (empty for a websocket or
            a JSON webhook); use them instead of reading the body again.
    """

    ok: bool
    reason: str
    url: str
    code: str = ""
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def status(self) -> int:
        """The HTTP status to answer with: 200 when valid, 413 for a body over the cap, else 403."""
        if self.ok:
            return 200
        return 413 if self.code == "body_too_large" else 403


class _FormParams(dict[str, str]):
    """Form fields: first value per name, with every value for the SDK's signature (``getall``)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__()
        self._all: dict[str, list[str]] = {}
        for key, value in pairs:
            self._all.setdefault(key, []).append(value)
            self.setdefault(key, value)

    def getall(self, key: str) -> list[str]:
        return self._all[key]


def _clean_host(value: str, what: str) -> str:
    """A lower-case ``host[:port]``, or :class:`_Refused` naming ``what`` and why."""
    host = value.strip().lower()
    match = _HOST.fullmatch(host) if len(host) <= 260 else None
    if match is None:
        raise _Refused(f"bad_{what.replace('-', '_')}", f"{what} {quote_for_log(value)} is not host[:port]")
    port = match.group("port")
    if port is not None and not 0 < int(port) < 65536:
        raise _Refused(f"bad_{what.replace('-', '_')}", f"{what} {quote_for_log(value)} has a bad port")
    return host


async def read_body_capped(request: Any, limit: int = DEFAULT_MAX_BODY_BYTES) -> bytes:
    """Read a request body, refusing it as soon as it is known to exceed ``limit`` bytes.

    ``Content-Length`` is checked first (nothing is read when it is over); a body without one (chunked)
    is streamed and abandoned at the first chunk that passes the cap, so memory never exceeds
    ``limit`` plus one chunk. The bytes read are cached on the request, so a later ``await
    request.body()`` or ``request.form()`` still works.

    Args:
        request: A Starlette/FastAPI ``Request``.
        limit: The largest body accepted, in bytes.

    Returns:
        The body.

    Raises:
        BodyTooLarge: If the body is larger than ``limit`` (answer HTTP 413).
        ValueError: If ``Content-Length`` is not a number (answer HTTP 400).
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        declared = declared.strip()
        if not declared.isdigit() or not declared.isascii():
            raise ValueError(f"Content-Length {quote_for_log(declared)} is not a number")
        if int(declared) > limit:
            raise BodyTooLarge(f"body of {int(declared)} bytes exceeds the {limit}-byte cap")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body exceeds the {limit}-byte cap")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette's own cache: later body()/form() read this, not the spent stream
    return body


class TwilioSignatureValidator:
    """Validates ``X-Twilio-Signature`` for webhooks (HTTP) and media-stream handshakes (websocket)."""

    def __init__(
        self,
        auth_token: str,
        *,
        public_host: str | None = None,
        trust_forwarded_headers: bool = False,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        """Initialize the validator.

        Args:
            auth_token: Your Twilio auth token (or webhook shared key secret). Never logged.
            public_host: The host Twilio calls (e.g. ``bot.example.com``; ``https://…/`` and ``wss://…``
                are accepted). When given, no request header changes the URL checked. Recommended.
            trust_forwarded_headers: Without ``public_host``, take the host from ``X-Forwarded-Host``
                (the first of a comma list: the host the first proxy was asked for). Turn it on only
                behind a proxy you run that overwrites that header; otherwise it is client input.
                ``X-Forwarded-Proto`` is then validated too (``http``/``https``/``ws``/``wss``), but
                the URL is always ``https``/``wss``: Twilio calls nothing else.
            max_body_bytes: Largest webhook body read by :meth:`check_request`.

        Raises:
            ValueError: If ``auth_token`` is empty, ``public_host`` is not a host name, or
                ``max_body_bytes`` is not positive.
        """
        if not auth_token:
            raise ValueError("auth_token is required to validate Twilio signatures")
        if max_body_bytes <= 0:
            raise ValueError(f"max_body_bytes must be positive, got {max_body_bytes!r}")
        self._validator = RequestValidator(auth_token)
        self._public_host: str | None = None
        if public_host:
            host = public_host.strip()
            scheme, sep, rest = host.partition("://")
            if sep and scheme.lower() in _SCHEMES:
                host = rest
            try:
                self._public_host = _clean_host(host.rstrip("/"), "public_host")
            except _Refused as e:
                raise ValueError(str(e)) from None
        self._trust_forwarded = trust_forwarded_headers
        self._max_body_bytes = max_body_bytes

    def __repr__(self) -> str:  # keep the token out of any log line or traceback
        return (
            f"TwilioSignatureValidator(public_host={self._public_host!r}, "
            f"trust_forwarded_headers={self._trust_forwarded})"
        )

    def public_url(self, scheme: str, headers: Mapping[str, str], path: str, query: str = "") -> str:
        """Rebuild the URL Twilio requested.

        Args:
            scheme: The scheme the app saw (``http``/``ws`` behind a TLS-terminating proxy).
            headers: The request headers (lower-case names).
            path: The request path.
            query: The raw query string.

        Returns:
            The public ``https://`` or ``wss://`` URL.

        Raises:
            ValueError: If the host (``Host``, or a trusted ``X-Forwarded-Host``) or a trusted
                ``X-Forwarded-Proto`` is malformed; the message says which and why.
        """
        secure = "wss" if scheme.lower() in _WEBSOCKET_SCHEMES else "https"
        host = self._public_host
        if host is None and self._trust_forwarded:
            proto = headers.get("x-forwarded-proto")
            if proto is not None:
                first = proto.split(",")[0].strip().lower()
                if first not in _SCHEMES:
                    raise _Refused(
                        "bad_forwarded_proto",
                        f"X-Forwarded-Proto {quote_for_log(proto)} is not http, https, ws or wss",
                    )
            forwarded = headers.get("x-forwarded-host")
            if forwarded is not None:
                host = _clean_host(forwarded.split(",")[0], "forwarded-host")
        if host is None:
            host = _clean_host(headers.get("host", ""), "host")
        return f"{secure}://{host}{path}" + (f"?{query}" if query else "")

    def check(self, url: str, params: Mapping[str, Any] | str, headers: Mapping[str, str]) -> SignatureCheck:
        """Check a signature against a public URL and parameters.

        Args:
            url: The public URL.
            params: The POST form parameters, or the raw body of a JSON webhook (``bodySHA256`` in the
                URL's query, which must then be the body's SHA-256 in hex).
            headers: The request headers (lower-case names).

        Returns:
            The outcome.
        """
        signature = headers.get(SIGNATURE_HEADER, "")
        if not signature:
            return SignatureCheck(False, "missing X-Twilio-Signature header", url, "missing_signature")
        algorithm = get_signature_algorithm(headers.get(SETTINGS_HEADER))
        if algorithm.upper() not in _ALGORITHMS:
            return SignatureCheck(
                False, f"unsupported signature algorithm {quote_for_log(algorithm)}", url, "bad_algorithm"
            )
        if isinstance(params, str):
            return self._check_json(url, params.encode("utf-8"), headers)
        try:  # as given: the SDK signs every value of a multi-dict (getall/getlist), a dict copy only one
            valid = self._validator.validate(url, params, signature, algorithm)
        except ValueError:  # the SDK parses the URL's port; ours are validated, but never a traceback
            valid = False
        if valid:
            return SignatureCheck(True, "", url)
        shown = quote_for_log(url, 200)
        return SignatureCheck(False, f"signature mismatch for {shown} ({algorithm})", url, "mismatch")

    @staticmethod
    def _check_body_hash(url: str, body: bytes) -> SignatureCheck | None:
        """A failed check when the URL's ``bodySHA256`` is absent, repeated or not this body's hash."""
        values = parse_qs(url.partition("?")[2], keep_blank_values=True).get("bodySHA256", [])
        if len(values) != 1:
            return SignatureCheck(False, "JSON webhook needs exactly one bodySHA256", url, "bad_body")
        actual = hashlib.sha256(body).hexdigest()
        if not hmac.compare_digest(actual.encode(), values[0].strip().lower().encode("utf-8", "replace")):
            return SignatureCheck(False, "body does not match bodySHA256", url, "body_hash_mismatch")
        return None

    def _url_for(self, connection: Any, headers: Mapping[str, str]) -> str:
        try:
            url = connection.url  # Starlette decodes the raw query as UTF-8 here
            scheme, path, query = url.scheme, url.path, url.query
        except ValueError:
            raise _Refused("bad_url", "the request URL is not UTF-8") from None
        return self.public_url(scheme, headers, path, query)

    def check_websocket(self, websocket: Any) -> SignatureCheck:
        """Check a media-stream handshake (a Starlette ``WebSocket``): public ``wss://`` URL, no params.

        A valid one proves only that Twilio once opened a stream to this URL, not which call this is.

        Args:
            websocket: The Starlette/FastAPI ``WebSocket``, before ``accept()``.

        Returns:
            The outcome (never raises for hostile headers).
        """
        headers = {k.lower(): v for k, v in websocket.headers.items()}
        try:
            url = self._url_for(websocket, headers)
        except _Refused as e:
            return SignatureCheck(False, str(e), "", e.code)
        return self.check(url, {}, headers)

    async def check_request(self, request: Any, *, max_body_bytes: int | None = None) -> SignatureCheck:
        """Check a webhook (a Starlette/FastAPI ``Request``): public URL plus its form (or JSON body).

        The body is read with a cap (:func:`read_body_capped`) and the form parsed from those bytes, so a
        huge unsigned body costs nothing. The parsed form is in ``result.params``; answer with
        ``result.status`` (413 for a body over the cap, 403 for anything else that failed).

        Args:
            request: The request.
            max_body_bytes: Overrides the validator's cap for this request.

        Returns:
            The outcome (never raises for hostile input).
        """
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            url = self._url_for(request, headers)
        except _Refused as e:
            return SignatureCheck(False, str(e), "", e.code)
        try:
            body = await read_body_capped(request, max_body_bytes or self._max_body_bytes)
        except BodyTooLarge as e:
            return SignatureCheck(False, str(e), url, "body_too_large")
        except ValueError as e:
            return SignatureCheck(False, str(e), url, "bad_body")
        except Exception as e:  # Starlette's ClientDisconnect, or the server's own read errors
            return SignatureCheck(False, f"body not read ({type(e).__name__})", url, "disconnected")
        query = parse_qs(url.partition("?")[2], keep_blank_values=True)
        if "bodySHA256" in query:  # a JSON webhook: the URL signs the body's hash, not a form
            return self._check_json(url, body, headers)
        try:
            pairs = parse_form(body)
        except ValueError:
            return SignatureCheck(False, "form body is not a UTF-8 form", url, "bad_body")
        form = _FormParams(pairs)
        result = self.check(url, form, headers)
        return SignatureCheck(result.ok, result.reason, url, result.code, MappingProxyType(dict(form)))

    def _check_json(self, url: str, body: bytes, headers: Mapping[str, str]) -> SignatureCheck:
        """A JSON webhook: the signature covers the URL (with ``bodySHA256``), the hash covers the body."""
        signed = self.check(url, {}, headers)
        if not signed.ok:
            return signed
        return self._check_body_hash(url, body) or signed


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """Parse a webhook's ``application/x-www-form-urlencoded`` body (blank values kept, at most 1000 fields).

    Raises:
        ValueError: If it is not UTF-8 or has too many fields.
    """
    return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=1000)


async def require_twilio_signature(websocket: Any, validator: TwilioSignatureValidator) -> bool:
    """Refuse a media-stream websocket whose handshake Twilio did not sign, before any pipeline starts.

    Call it before ``websocket.accept()``: an invalid handshake is closed with code 1008 (policy
    violation) and a warning names the reason. A valid handshake does not say which call this is: bind
    the stream with :class:`~pipecat_twilio_realtime.twilio.binding.StreamBinder` before using it.

    Args:
        websocket: The Starlette/FastAPI ``WebSocket``.
        validator: The validator.

    Returns:
        Whether the handshake is valid (when not, the websocket is already closed).
    """
    result = validator.check_websocket(websocket)
    if not result.ok:
        client = getattr(websocket, "client", None)
        peer = quote_for_log(client.host if client else None)
        logger.warning(f"refused a media stream from {peer}: {result.reason}")
        await websocket.close(code=1008)
    return result.ok
