"""Check Twilio's request signatures on the webhook and on the media-stream websocket handshake.

Twilio signs every webhook and the websocket handshake of a ``<Connect><Stream>`` with
``X-Twilio-Signature``: an HMAC of the **public** URL it requested (plus, for form webhooks, the sorted
POST parameters; the handshake has none). Behind a proxy the URL your app sees is not that one, so the
public URL is rebuilt from ``public_host`` when given, else from ``X-Forwarded-Proto``/``X-Forwarded-Host``
when trusted, else from ``Host``. ``X-Twilio-Webhooks-Signature-Settings`` selects HMAC-SHA256 when your
webhooks are signed that way. The HMAC itself is the ``twilio`` SDK's ``RequestValidator``.

Nothing here logs the auth token or a signature value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loguru import logger
from twilio.request_validator import RequestValidator, get_signature_algorithm

__all__ = ["SignatureCheck", "TwilioSignatureValidator", "require_twilio_signature"]

SIGNATURE_HEADER = "x-twilio-signature"
SETTINGS_HEADER = "x-twilio-webhooks-signature-settings"
_SECURE = {"http": "https", "ws": "wss", "https": "https", "wss": "wss"}


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of a signature check.

    Parameters:
        ok: Whether the signature is valid.
        reason: Why not (empty when valid); never contains the signature or the token.
        url: The public URL the signature was checked against.
    """

    ok: bool
    reason: str
    url: str


class TwilioSignatureValidator:
    """Validates ``X-Twilio-Signature`` for webhooks (HTTP) and media-stream handshakes (websocket)."""

    def __init__(
        self, auth_token: str, *, public_host: str | None = None, trust_forwarded_headers: bool = True
    ):
        """Initialize the validator.

        Args:
            auth_token: Your Twilio auth token (or webhook shared key secret). Never logged.
            public_host: The host Twilio calls (e.g. ``bot.example.com``); wins over request headers.
            trust_forwarded_headers: Use ``X-Forwarded-Proto``/``X-Forwarded-Host`` (set only behind a
                proxy you control that overwrites them).

        Raises:
            ValueError: If ``auth_token`` is empty.
        """
        if not auth_token:
            raise ValueError("auth_token is required to validate Twilio signatures")
        self._validator = RequestValidator(auth_token)
        self._public_host = (
            public_host.removeprefix("https://").removeprefix("wss://").rstrip("/") if public_host else None
        )
        self._trust_forwarded = trust_forwarded_headers

    def __repr__(self) -> str:  # keep the token out of any log line or traceback
        return f"TwilioSignatureValidator(public_host={self._public_host!r})"

    def public_url(self, scheme: str, headers: Mapping[str, str], path: str, query: str = "") -> str:
        """Rebuild the URL Twilio requested.

        Args:
            scheme: The scheme the app saw (``http``/``ws`` behind a TLS-terminating proxy).
            headers: The request headers (lower-case names).
            path: The request path.
            query: The raw query string.

        Returns:
            The public ``https://`` or ``wss://`` URL.
        """
        host = self._public_host
        if self._trust_forwarded:
            forwarded_proto = headers.get("x-forwarded-proto", "").split(",")[0].strip()
            if forwarded_proto:
                scheme = (
                    "ws"
                    if scheme in ("ws", "wss") and forwarded_proto in ("http", "https")
                    else forwarded_proto
                )
            host = host or headers.get("x-forwarded-host", "").split(",")[0].strip() or None
        host = host or headers.get("host", "")
        secure = _SECURE.get(scheme, scheme)
        return f"{secure}://{host}{path}" + (f"?{query}" if query else "")

    def check(self, url: str, params: Mapping[str, Any] | str, headers: Mapping[str, str]) -> SignatureCheck:
        """Check a signature against a public URL and parameters.

        Args:
            url: The public URL.
            params: The POST form parameters, or the raw body of a JSON webhook (``bodySHA256`` in the URL).
            headers: The request headers (lower-case names).

        Returns:
            The outcome.
        """
        signature = headers.get(SIGNATURE_HEADER, "")
        if not signature:
            return SignatureCheck(False, "missing X-Twilio-Signature header", url)
        algorithm = get_signature_algorithm(headers.get(SETTINGS_HEADER))
        if self._validator.validate(
            url, params if isinstance(params, str) else dict(params), signature, algorithm
        ):
            return SignatureCheck(True, "", url)
        return SignatureCheck(False, f"signature mismatch for {url} ({algorithm})", url)

    def check_websocket(self, websocket: Any) -> SignatureCheck:
        """Check a media-stream handshake (a Starlette ``WebSocket``): public ``wss://`` URL, no params."""
        headers = {k.lower(): v for k, v in websocket.headers.items()}
        url = self.public_url(websocket.url.scheme, headers, websocket.url.path, websocket.url.query)
        return self.check(url, {}, headers)

    async def check_request(self, request: Any) -> SignatureCheck:
        """Check a webhook (a Starlette/FastAPI ``Request``): public URL plus its form parameters."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        url = self.public_url(request.url.scheme, headers, request.url.path, request.url.query)
        if "bodySHA256" in request.url.query:
            return self.check(url, (await request.body()).decode("utf-8", "replace"), headers)
        form = await request.form()
        return self.check(url, {k: str(v) for k, v in form.items()}, headers)


async def require_twilio_signature(websocket: Any, validator: TwilioSignatureValidator) -> bool:
    """Refuse a media-stream websocket whose handshake Twilio did not sign, before any pipeline starts.

    Call it before ``websocket.accept()``: an invalid handshake is closed with code 1008 (policy
    violation) and a warning names the reason.

    Args:
        websocket: The Starlette/FastAPI ``WebSocket``.
        validator: The validator.

    Returns:
        Whether the handshake is valid (when not, the websocket is already closed).
    """
    result = validator.check_websocket(websocket)
    if not result.ok:
        client = getattr(websocket, "client", None)
        logger.warning(f"refused a media stream from {client.host if client else '?'}: {result.reason}")
        await websocket.close(code=1008)
    return result.ok
