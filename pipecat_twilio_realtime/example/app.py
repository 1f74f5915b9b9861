"""The example bot's web app: Twilio's webhook (``POST /twiml``) and the media stream (``/ws``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import Response
from loguru import logger
from twilio.twiml.voice_response import Connect, Stream, VoiceResponse

from pipecat_twilio_realtime import (
    TwilioMediaStreamSerializer,
    TwilioSignatureValidator,
    require_twilio_signature,
)

from .pipeline import run_bot
from .settings import BotSettings


@dataclass(frozen=True)
class StreamStart:
    """What Twilio's ``start`` message said (unauthenticated: never trust ``call_sid`` for REST calls).

    Parameters:
        stream_sid: The stream SID.
        call_sid: The call SID it claims.
        custom_parameters: The ``<Parameter>`` values from the TwiML.
    """

    stream_sid: str
    call_sid: str
    custom_parameters: Mapping[str, str]


def twiml_for(public_host: str, parameters: Mapping[str, str]) -> str:
    """Build the TwiML that connects the call to ``wss://PUBLIC_HOST/ws``.

    Args:
        public_host: The public host name.
        parameters: ``<Parameter>`` values passed to the stream (arrive in ``start.customParameters``).

    Returns:
        The TwiML document.
    """
    response = VoiceResponse()
    connect = Connect()
    stream = Stream(url=f"wss://{public_host}/ws")
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    connect.append(stream)
    response.append(connect)
    return str(response)


async def wait_for_start(websocket: WebSocket, limit_secs: float) -> StreamStart:
    """Read Twilio's first messages until a valid ``start``.

    Each message goes through the serializer's own parser (size cap, μ-law 8000 Hz mono ``mediaFormat``);
    unusable ones are logged and skipped, as during the call.

    Args:
        websocket: The accepted websocket.
        limit_secs: Seconds to wait for ``start``.

    Returns:
        The ``start`` message's stream and call SIDs and custom parameters.

    Raises:
        TimeoutError: If no valid ``start`` comes in time.
    """
    reader = TwilioMediaStreamSerializer(params=TwilioMediaStreamSerializer.InputParams(auto_hang_up=False))
    async with asyncio.timeout(limit_secs):
        while (start := reader.start_event) is None:
            await reader.deserialize(await websocket.receive_text())
    return StreamStart(start.stream_sid, start.call_sid, dict(start.custom_parameters))


def create_app(settings: BotSettings) -> FastAPI:
    """Build the bot's web app: ``POST /twiml`` for Twilio's webhook and ``/ws`` for the media stream.

    Args:
        settings: The bot's settings. With a Twilio auth token every webhook and media stream must carry
            Twilio's signature; without one (local, unsigned mode) nothing is checked and the bot never
            hangs up through Twilio's REST API.

    Returns:
        The FastAPI app. ``app.state.call_summaries`` collects each finished call's stats summary.
    """
    app = FastAPI(title="pipecat-twilio-realtime example bot")
    app.state.call_summaries = []
    validator = (
        TwilioSignatureValidator(settings.twilio_auth_token, public_host=settings.public_host)
        if settings.twilio_auth_token
        else None
    )

    @app.post("/twiml")
    async def twiml(request: Request) -> Response:
        if not settings.public_host:
            message = "PUBLIC_HOST is not set: Twilio needs a public wss:// URL for the stream"
            logger.error(message)
            return Response(message, status_code=500, media_type="text/plain")
        if validator is not None:
            check = await validator.check_request(request)
            if not check.ok:
                logger.warning(f"refused a webhook: {check.reason}")
                return Response("invalid Twilio signature", status_code=403, media_type="text/plain")
        form = await request.form()
        caller = str(form.get("From", ""))
        return Response(twiml_for(settings.public_host, {"caller": caller}), media_type="application/xml")

    @app.websocket("/ws")
    async def media_stream(websocket: WebSocket) -> None:
        if validator is not None and not await require_twilio_signature(websocket, validator):
            return  # refused before the handshake completes (HTTP 403), nothing started
        await websocket.accept()
        try:
            start = await wait_for_start(websocket, settings.start_timeout_secs)
        except TimeoutError:
            logger.warning("closing a media stream that sent no valid 'start' in time")
            await websocket.close(code=1008)
            return
        signed = validator is not None
        logger.info(f"call {start.call_sid!r} stream {start.stream_sid!r} (signed handshake: {signed})")
        await run_bot(
            websocket,
            settings,
            stream_sid=start.stream_sid,
            # Hang up through the REST API only for a call whose socket Twilio signed.
            call_sid=start.call_sid if signed else None,
            summaries=app.state.call_summaries,
        )

    return app
