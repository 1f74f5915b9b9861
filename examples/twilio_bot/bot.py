"""A complete Twilio phone bot: Twilio Media Streams → Pipecat → OpenAI Realtime, μ-law end to end.

Run it (after ``pip install "pipecat-twilio-realtime[example]"`` and filling ``.env`` from ``env.example``)::

    python examples/twilio_bot/bot.py

Then point your Twilio number's Voice webhook (HTTP POST) at ``https://PUBLIC_HOST/twiml``. The app answers
with TwiML ``<Connect><Stream url="wss://PUBLIC_HOST/ws">`` and ``/ws`` runs the pipeline::

    FastAPIWebsocketTransport(TwilioMediaStreamSerializer) → user context → OpenAIRealtimeMuLawLLMService
        → transport.output() → assistant context          (+ MediaStatsObserver, pipeline pinned at 8000 Hz)

The bot greets first, speaks the language of its system prompt, answers one example function
(``get_opening_hours``) and hangs up when the caller asks (``end_call``).
``python -m pipecat_twilio_realtime.simulate`` runs this same app against a local OpenAI stand-in and a
simulated Twilio caller, with no credentials and no network.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import Response
from loguru import logger
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import EndWorkerFrame, LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import FunctionCallParams
from pipecat.services.openai.realtime import events
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.workers.runner import WorkerRunner
from twilio.twiml.voice_response import Connect, Stream, VoiceResponse

from pipecat_twilio_realtime import (
    MediaStatsObserver,
    OpenAIRealtimeMuLawLLMService,
    TwilioMediaStreamSerializer,
    TwilioSignatureValidator,
    require_twilio_signature,
)
from pipecat_twilio_realtime import twilio_protocol as tp

DEFAULT_PROMPT = (
    "You are a friendly receptionist answering the phone for a small bakery. Speak English. "
    "Keep answers short: this is a phone call. Greet the caller first. "
    "Use get_opening_hours when asked when the shop is open, and end_call when the caller says goodbye."
)


class ConfigError(ValueError):
    """A required setting is missing or invalid; the message names it."""


@dataclass(frozen=True)
class BotSettings:
    """Everything the bot reads from the environment (see ``env.example``).

    Parameters:
        openai_api_key: ``OPENAI_API_KEY`` (required).
        public_host: ``PUBLIC_HOST``, the host Twilio reaches (e.g. ``abc.ngrok.app``); needed for ``/twiml``.
        twilio_account_sid: ``TWILIO_ACCOUNT_SID`` (optional: enables hang-up).
        twilio_auth_token: ``TWILIO_AUTH_TOKEN`` (optional: enables hang-up and signature checks).
        system_prompt: ``BOT_SYSTEM_PROMPT``: the bot's instructions, and so its language.
        voice: ``BOT_VOICE``: the OpenAI voice.
        realtime_url: ``OPENAI_REALTIME_URL``: the Realtime websocket (the simulator points it at a stand-in).
        model: ``OPENAI_REALTIME_MODEL``.
        start_timeout_secs: how long a websocket may take to send Twilio's ``start``.
    """

    openai_api_key: str
    public_host: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    system_prompt: str = DEFAULT_PROMPT
    voice: str = "marin"
    realtime_url: str = "wss://api.openai.com/v1/realtime"
    model: str = "gpt-realtime"
    start_timeout_secs: float = 10.0

    def __repr__(self) -> str:  # never show secrets
        return (
            f"BotSettings(public_host={self.public_host!r}, voice={self.voice!r}, "
            f"realtime_url={self.realtime_url!r})"
        )


def load_settings(env: Mapping[str, str] | None = None) -> BotSettings:
    """Read settings from the environment (after ``.env``, when python-dotenv finds one).

    Args:
        env: The mapping to read (defaults to ``os.environ``).

    Returns:
        The settings.

    Raises:
        ConfigError: Naming the setting that is missing or invalid.
    """
    env = os.environ if env is None else env
    key = env.get("OPENAI_API_KEY", "").strip()
    if not key:
        raise ConfigError("OPENAI_API_KEY is not set: put it in .env (see examples/twilio_bot/env.example)")
    sid, token = env.get("TWILIO_ACCOUNT_SID") or None, env.get("TWILIO_AUTH_TOKEN") or None
    if bool(sid) != bool(token):
        missing = "TWILIO_AUTH_TOKEN" if sid else "TWILIO_ACCOUNT_SID"
        raise ConfigError(f"{missing} is not set: Twilio credentials go in pairs (or leave both unset)")
    host = (env.get("PUBLIC_HOST") or "").strip().removeprefix("https://").removeprefix("wss://").rstrip("/")
    return BotSettings(
        openai_api_key=key,
        public_host=host or None,
        twilio_account_sid=sid,
        twilio_auth_token=token,
        system_prompt=env.get("BOT_SYSTEM_PROMPT") or DEFAULT_PROMPT,
        voice=env.get("BOT_VOICE") or "marin",
        realtime_url=env.get("OPENAI_REALTIME_URL") or "wss://api.openai.com/v1/realtime",
        model=env.get("OPENAI_REALTIME_MODEL") or "gpt-realtime",
    )


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


TOOLS = ToolsSchema(
    standard_tools=[
        FunctionSchema(
            name="get_opening_hours",
            description="Tell when the bakery is open on a given day.",
            properties={"day": {"type": "string", "description": "Day of the week, e.g. 'monday'."}},
            required=["day"],
        ),
        FunctionSchema(
            name="end_call",
            description="Hang up, after saying goodbye, when the caller is done.",
            properties={},
            required=[],
        ),
    ]
)


async def get_opening_hours(params: FunctionCallParams) -> None:
    """Example tool: the bakery's hours."""
    day = str(params.arguments.get("day", "")).lower()
    hours = "closed" if day == "sunday" else "7 am to 6 pm"
    await params.result_callback({"day": day or "today", "hours": hours})


async def end_call(params: FunctionCallParams) -> None:
    """Example tool: end the call (the serializer hangs up through Twilio's REST API)."""
    await params.result_callback({"status": "ending call"})
    await params.llm.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)


async def wait_for_start(websocket: WebSocket, limit_secs: float) -> tp.Start:
    """Read Twilio's first messages until ``start``.

    Args:
        websocket: The accepted websocket.
        limit_secs: Seconds to wait for ``start``.

    Returns:
        The parsed ``start`` event.

    Raises:
        TimeoutError: If ``start`` does not come in time.
        TwilioProtocolError: If a message before it is unusable.
    """
    async with asyncio.timeout(limit_secs):
        while True:
            event = tp.parse_message(await websocket.receive_text())
            if isinstance(event, tp.Start):
                return event


def build_llm(settings: BotSettings) -> OpenAIRealtimeMuLawLLMService:
    """The Realtime service, μ-law both ways (the service pins the formats itself)."""
    llm = OpenAIRealtimeMuLawLLMService(
        api_key=settings.openai_api_key,
        base_url=settings.realtime_url,
        settings=OpenAIRealtimeMuLawLLMService.Settings(
            model=settings.model,
            system_instruction=settings.system_prompt,
            session_properties=events.SessionProperties(
                audio=events.AudioConfiguration(output=events.AudioOutput(voice=settings.voice)),
            ),
        ),
    )
    llm.register_function("get_opening_hours", get_opening_hours)
    llm.register_function("end_call", end_call)
    return llm


async def run_bot(
    websocket: WebSocket,
    start: tp.Start,
    settings: BotSettings,
    summaries: list[dict[str, Any]],
    signed: bool,
) -> None:
    """Run one call's pipeline until the caller or the bot hangs up."""
    serializer = TwilioMediaStreamSerializer(
        stream_sid=start.stream_sid,
        # Hang up through the REST API only for a call whose socket Twilio signed.
        call_sid=start.call_sid if signed else None,
        account_sid=settings.twilio_account_sid if signed else None,
        auth_token=settings.twilio_auth_token if signed else None,
    )
    transport = FastAPIWebsocketTransport(
        websocket,
        FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            audio_out_10ms_chunks=2,  # 20 ms Twilio media messages
            add_wav_header=False,
            serializer=serializer,
        ),
    )
    llm = build_llm(settings)
    context = LLMContext(messages=[], tools=TOOLS)
    aggregators = LLMContextAggregatorPair(context)
    observer = MediaStatsObserver(serializer=serializer, service=llm)

    @observer.event_handler("on_call_summary")
    async def on_call_summary(_observer: MediaStatsObserver, summary: dict[str, Any]) -> None:
        summaries.append(summary)

    pipeline = Pipeline(
        [transport.input(), aggregators.user(), llm, transport.output(), aggregators.assistant()]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
        observers=[observer],
    )

    @transport.event_handler("on_client_connected")
    async def on_client_connected(_transport: Any, _ws: Any) -> None:
        await worker.queue_frames([LLMRunFrame()])  # the bot speaks first

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(_transport: Any, _ws: Any) -> None:
        await worker.cancel()

    logger.info(f"call {start.call_sid} stream {start.stream_sid} starts (signed handshake: {signed})")
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()


def create_app(settings: BotSettings) -> FastAPI:
    """The bot's web app: ``POST /twiml`` for Twilio's webhook and ``/ws`` for the media stream.

    Args:
        settings: The bot's settings.

    Returns:
        The FastAPI app. ``app.state.call_summaries`` collects each finished call's stats summary.
    """
    app = FastAPI(title="pipecat-twilio-realtime example bot")
    app.state.call_summaries = []
    # With an auth token, every webhook and media stream must carry Twilio's signature.
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
        except (TimeoutError, tp.TwilioProtocolError) as e:
            logger.warning(f"closing a media stream that did not start properly: {e or 'no start in time'}")
            await websocket.close(code=1008)
            return
        await run_bot(websocket, start, settings, app.state.call_summaries, signed=validator is not None)

    return app


def main() -> None:
    """Serve the bot with uvicorn (``HOST``/``PORT`` from the environment, default 0.0.0.0:8765)."""
    import uvicorn
    from dotenv import load_dotenv

    load_dotenv()
    try:
        settings = load_settings()
    except ConfigError as e:
        raise SystemExit(f"error: {e}") from None
    uvicorn.run(
        create_app(settings), host=os.environ.get("HOST", "0.0.0.0"), port=int(os.environ.get("PORT", "8765"))
    )


if __name__ == "__main__":
    main()
