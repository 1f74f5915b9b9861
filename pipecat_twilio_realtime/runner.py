"""``create_twilio_transport()``: a Pipecat runner bot's Twilio transport, with this package's serializer.

Pipecat's ``create_transport(runner_args, transport_params)`` always builds the stock Twilio serializer.
A runner bot (``async def bot(runner_args)``, served by ``python bot.py -t twilio -x HOST``) moves onto
this package by changing that one call::

    transport = await create_twilio_transport(runner_args, FastAPIWebsocketParams(...))
    call = transport.call  # stream SID, call SID, account SID, custom parameters, bound or not

Trust (see ``docs/`` and :mod:`~pipecat_twilio_realtime.twilio.binding`): with ``TWILIO_AUTH_TOKEN`` set,
the handshake's ``X-Twilio-Signature`` is checked (over ``wss://HOST/ws``, HOST from ``-x``); a stream whose
``customParameters`` carry :data:`~pipecat_twilio_realtime.twilio.binding.BINDING_PARAMETER` is checked
against its call. A stream with no binding (the runner's own ``POST /`` mints none) gets one warning and
no REST credentials: nothing hangs up a call on the word of an unauthenticated ``start``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from fastapi import WebSocket, WebSocketDisconnect
from loguru import logger
from pipecat.runner.types import CallData, WebSocketRunnerArguments
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams

from ._logsafe import quote_for_log
from .recommended import recommended_transport_params
from .twilio.binding import BINDING_PARAMETER, StreamBinder
from .twilio.playout import DEFAULT_SEND_AHEAD_MS, SendAheadWebsocketTransport
from .twilio.security import TwilioSignatureValidator
from .twilio.serializer import TwilioMediaStreamSerializer

__all__ = ["TwilioCall", "TwilioStreamRefused", "TwilioTransport", "create_twilio_transport"]

AUTH_TOKEN_ENV: Final = "TWILIO_AUTH_TOKEN"  # noqa: S105 - the variable's name, not a secret
"""Set, the handshake signature and any stream binding are checked, and a bound call may be hung up."""

_LINE_RATE: Final = 8000
_RATE_FIELDS: Final = ("audio_in_sample_rate", "audio_out_sample_rate")


class TwilioStreamRefused(Exception):
    """The media stream was refused (bad signature, binding or handshake); the websocket is closed."""


@dataclass(frozen=True)
class TwilioCall:
    """What Twilio's ``start`` said about this stream.

    Parameters:
        stream_sid: The stream SID.
        call_sid: The call SID it claims (proven only when ``bound``).
        account_sid: The account SID it claims (proven only when ``bound``).
        custom_parameters: The TwiML ``<Parameter>`` values.
        bound: Whether a binding token minted by a signed webhook proved this stream is that call's.
    """

    stream_sid: str
    call_sid: str
    account_sid: str
    custom_parameters: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    bound: bool = False


class TwilioTransport(SendAheadWebsocketTransport):
    """A send-ahead websocket transport carrying this package's serializer and the call it serves."""

    def __init__(
        self,
        websocket: WebSocket,
        params: FastAPIWebsocketParams,
        call: TwilioCall,
        *,
        send_ahead_ms: float = DEFAULT_SEND_AHEAD_MS,
    ) -> None:
        """Initialize the transport.

        Args:
            websocket: The accepted Twilio websocket.
            params: Transport params, with the serializer set.
            call: What ``start`` said.
            send_ahead_ms: How far ahead of its play time reply audio is sent (``docs/playout.md``).
        """
        super().__init__(websocket, params, send_ahead_ms=send_ahead_ms)
        self.call = call

    @property
    def serializer(self) -> TwilioMediaStreamSerializer:
        """The serializer on this transport's websocket."""
        serializer = self._params.serializer
        assert isinstance(serializer, TwilioMediaStreamSerializer)
        return serializer


def _merged_params(params: FastAPIWebsocketParams | None) -> dict[str, Any]:
    """The recommended params with the user's (only the fields they set) on top; rates must stay 8000."""
    merged = recommended_transport_params()
    if params is None:
        return merged
    for name in _RATE_FIELDS:
        rate = getattr(params, name)
        if rate is not None and rate != _LINE_RATE:
            raise ValueError(
                f"{name}={rate!r}: a Twilio call is 8000 Hz μ-law and is never resampled; "
                f"leave {name} unset or 8000"
            )
    if params.serializer is not None:
        raise ValueError(
            "params.serializer is set: create_twilio_transport builds TwilioMediaStreamSerializer itself "
            "(pass serializer_params instead)"
        )
    merged.update({name: getattr(params, name) for name in params.model_fields_set})
    return merged


def _build_transport(
    websocket: WebSocket,
    params: dict[str, Any],
    serializer: TwilioMediaStreamSerializer,
    call: TwilioCall,
    send_ahead_ms: float,
) -> TwilioTransport:
    """The one place the transport is built: send-ahead playout, our serializer, the merged params."""
    return TwilioTransport(
        websocket, FastAPIWebsocketParams(**params, serializer=serializer), call, send_ahead_ms=send_ahead_ms
    )


async def _read_start(websocket: WebSocket, timeout_s: float) -> TwilioMediaStreamSerializer:
    """Read ``connected`` and ``start`` through the serializer's own parser (as the example does)."""
    reader = TwilioMediaStreamSerializer(params=TwilioMediaStreamSerializer.InputParams(auto_hang_up=False))
    async with asyncio.timeout(timeout_s):
        while reader.start_event is None:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            if message.get("text") is not None:
                await reader.deserialize(message["text"])
    return reader


async def _refuse(websocket: WebSocket, why: str) -> TwilioStreamRefused:
    logger.warning(f"create_twilio_transport: refused a media stream: {why}")
    await websocket.close(code=1008)
    return TwilioStreamRefused(why)


async def create_twilio_transport(
    runner_args: WebSocketRunnerArguments,
    params: FastAPIWebsocketParams | None = None,
    *,
    serializer_params: TwilioMediaStreamSerializer.InputParams | None = None,
    auth_token: str | None = None,
    public_host: str | None = None,
    start_timeout_s: float = 10.0,
    send_ahead_ms: float = DEFAULT_SEND_AHEAD_MS,
) -> TwilioTransport:
    """Read Twilio's ``connected``/``start`` and build the call's transport with our serializer.

    Args:
        runner_args: What Pipecat's runner passes to ``bot()`` (its websocket is already accepted).
        params: Your ``FastAPIWebsocketParams``; the fields you set win over
            :func:`~pipecat_twilio_realtime.recommended_transport_params`. Sample rates must be unset or 8000.
        serializer_params: The serializer's ``InputParams``.
        auth_token: The Twilio auth token; ``None`` reads ``TWILIO_AUTH_TOKEN``. Never logged.
        public_host: The host Twilio connects to, for the signature; ``None`` takes the runner's ``-x``
            (``--proxy``).
        start_timeout_s: Seconds to wait for ``start``.
        send_ahead_ms: How far ahead of its play time reply audio is sent (``docs/playout.md``;
            0 sends at play time, as Pipecat does).

    Returns:
        The transport; ``transport.call`` is the :class:`TwilioCall`, ``transport.serializer`` ours.
        ``runner_args.call_data`` is filled as Pipecat's ``create_transport`` fills it.

    Raises:
        ValueError: If ``params`` asks for a rate other than 8000 or brings its own serializer.
        TwilioStreamRefused: If the signature or binding is bad, or no ``start`` came (socket closed).
    """
    merged = _merged_params(params)
    websocket = runner_args.websocket
    token = auth_token if auth_token is not None else os.environ.get(AUTH_TOKEN_ENV) or None
    if token:
        host = public_host or getattr(getattr(runner_args, "cli_args", None), "proxy", None)
        check = TwilioSignatureValidator(token, public_host=host).check_websocket(websocket)
        if not check.ok:
            raise await _refuse(websocket, f"handshake signature: {check.reason}")
    try:
        start = (await _read_start(websocket, start_timeout_s)).start_event
    except (TimeoutError, WebSocketDisconnect):
        raise await _refuse(websocket, f"no valid 'start' within {start_timeout_s:g} s") from None
    assert start is not None
    sids = f"call {quote_for_log(start.call_sid)} stream {quote_for_log(start.stream_sid)}"
    bound = False
    if token and BINDING_PARAMETER in start.custom_parameters:
        binding = StreamBinder(token).verify_start(start)
        if not binding.ok:
            raise await _refuse(websocket, f"{sids}: stream binding {binding.reason} ({binding.detail})")
        bound = True
    else:
        logger.warning(
            f"create_twilio_transport: {sids} is NOT bound to a call (no verified '{BINDING_PARAMETER}' "
            "parameter from a signed webhook): it may be a replay, so nothing hangs up or transfers it "
            "through Twilio's REST API"
        )
    custom = MappingProxyType(dict(start.custom_parameters))
    call = TwilioCall(start.stream_sid, start.call_sid, start.account_sid, custom, bound)
    serializer = TwilioMediaStreamSerializer(  # REST credentials only for a stream proven to be its call's
        stream_sid=call.stream_sid,
        call_sid=call.call_sid if bound else None,
        account_sid=call.account_sid if bound else None,
        auth_token=token if bound else None,
        params=serializer_params,
    )
    runner_args.call_data = CallData.model_validate(
        {
            "stream_id": call.stream_sid,
            "call_id": call.call_sid,
            "body": dict(custom),
            "from": custom.get("from_number"),  # promoted as Pipecat's parse_telephony_websocket does
            "to": custom.get("to_number"),
        }
    )
    runner_args.transport_type = "twilio"
    logger.info(f"create_twilio_transport: {sids} starts (bound: {bound})")
    return _build_transport(websocket, merged, serializer, call, send_ahead_ms)
