"""The example bot's web app: Twilio's webhook (``POST /twiml``) and the media stream (``/ws``).

What a stranger can reach, and what stops them (the README's Security section has the threat model):

* ``POST /twiml``: the body is read with a 64 KiB cap (413 beyond), the ``X-Twilio-Signature`` is checked
  over the pinned public URL (403), and the answer binds the stream to this call: a short-lived token
  minted for its ``CallSid``/``AccountSid`` travels as a ``<Parameter>``. Over ``max_calls`` the caller
  hears "busy" (``<Reject reason="busy"/>``).
* ``/ws``: the handshake's signature is checked (it is the same for every call, so it only keeps out the
  unsigned), the call cap is applied before ``accept()``, and the ``start`` message must carry a valid token
  for its own ``callSid``: only then is an OpenAI session opened and the call SID trusted for REST calls.
  A silent stream is ended after ``inactivity_timeout_secs``.

Running it as a service (``service.py`` has the drain): ``GET /healthz`` (the process serves: 200),
``GET /readyz`` (200 when it takes calls; 503 with the reason while draining or at its call cap) and
``GET /metrics`` (Prometheus text, from :class:`~pipecat_twilio_realtime.observe.metrics.CallMetrics`). A
webhook that arrives while the process takes no call gets ``<Dial>TRANSFER_TO</Dial>``, or
``<Reject reason="busy"/>``.

A fleet (``REDIS_URL``): ``MAX_CALLS`` and ``MAX_CALLS_PER_CALLER`` hold across every process through a
:class:`~pipecat_twilio_realtime.twilio.shared_limits.RedisCallLimiter`, ``/readyz`` follows the global
cap, and while Redis is unreachable each process serves on ``MAX_CALLS_PER_PROCESS`` and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from loguru import logger
from starlette.websockets import WebSocketDisconnect
from twilio.twiml.voice_response import Connect, Stream, VoiceResponse

from pipecat_twilio_realtime import (
    BINDING_PARAMETER,
    BodyTooLarge,
    CallLimiter,
    StreamBinder,
    TwilioMediaStreamSerializer,
    TwilioSignatureValidator,
    quote_for_log,
    read_body_capped,
    require_twilio_signature,
)
from pipecat_twilio_realtime.observe.metrics import CallMetrics, mark_process_dead
from pipecat_twilio_realtime.twilio.limits import CallerLimiter
from pipecat_twilio_realtime.twilio.security import parse_form
from pipecat_twilio_realtime.twilio.shared_limits import LocalCallLimits, RedisCallLimiter

from .debug import install_debug_routes
from .pipeline import run_bot
from .service import FAILED, CallService, LiveCall
from .settings import UNSIGNED_SETTING, BotSettings, load_settings

_TRY_AGAIN_LATER = 1013  # websocket close code: the server is overloaded
SUMMARIES_KEPT = 100
"""Finished calls whose summaries ``app.state.call_summaries`` keeps: the oldest go (a process serves for
months; keeping every one grew it ~2 KB a call, found by ``benchmarks/bench_soak.py --tracemalloc``)."""


@dataclass(frozen=True)
class StreamStart:
    """What Twilio's ``start`` message said (unauthenticated until its binding token is verified).

    Parameters:
        stream_sid: The stream SID.
        call_sid: The call SID it claims.
        account_sid: The account SID it claims.
        custom_parameters: The ``<Parameter>`` values from the TwiML.
    """

    stream_sid: str
    call_sid: str
    account_sid: str
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


def busy_twiml() -> str:
    """TwiML that tells the caller the line is busy (the process is at its call cap)."""
    response = VoiceResponse()
    response.reject(reason="busy")
    return str(response)


def turn_away_twiml(transfer_to: str | None) -> str:
    """TwiML for a call this process does not take: ``<Dial>`` to ``transfer_to``, else busy.

    Args:
        transfer_to: An E.164 number (``TRANSFER_TO``), or ``None``.

    Returns:
        The TwiML document.
    """
    if transfer_to is None:
        return busy_twiml()
    response = VoiceResponse()
    response.dial(transfer_to)
    return str(response)


async def wait_for_start(websocket: WebSocket, limit_secs: float) -> StreamStart:
    """Read Twilio's first messages until a valid ``start``.

    Each message goes through the serializer's own parser (size cap, SID shapes, μ-law 8000 Hz mono
    ``mediaFormat``); unusable ones are logged and skipped, as during the call.

    Args:
        websocket: The accepted websocket.
        limit_secs: Seconds to wait for ``start``.

    Returns:
        The ``start`` message's SIDs and custom parameters.

    Raises:
        TimeoutError: If no valid ``start`` comes in time.
        WebSocketDisconnect: If the peer goes away first.
    """
    reader = TwilioMediaStreamSerializer(params=TwilioMediaStreamSerializer.InputParams(auto_hang_up=False))
    warned_binary = False
    async with asyncio.timeout(limit_secs):
        while (start := reader.start_event) is None:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            if message.get("text") is not None:
                await reader.deserialize(message["text"])
            elif not warned_binary:  # Twilio sends only text frames
                warned_binary = True
                logger.warning("media stream sent a binary frame before 'start': ignored")
    return StreamStart(start.stream_sid, start.call_sid, start.account_sid, dict(start.custom_parameters))


def build_limits(settings: BotSettings, metrics: CallMetrics) -> tuple[LocalCallLimits, Callable[[], None]]:
    """The call caps the settings ask for: per process, or through Redis with ``REDIS_URL``.

    With Redis two gauges join the metrics: ``pipecat_twilio_shared_limits_fallback`` (1 while this
    process serves on its own cap because Redis is unreachable) and ``pipecat_twilio_fleet_calls_active``
    (the fleet's live calls as Redis counted them at the last scrape that reached it).

    Args:
        settings: The bot's settings.
        metrics: Where the gauges go.

    Returns:
        The limits (a :class:`LocalCallLimits` or a :class:`RedisCallLimiter`), and what to call after
        ``await limits.count()`` to bring the gauges up to date (before each scrape).
    """
    calls = CallLimiter(settings.process_cap)
    per_caller = settings.max_calls_per_caller
    if not settings.redis_url:
        return LocalCallLimits(calls, None if per_caller is None else CallerLimiter(per_caller)), _nothing
    from prometheus_client import Gauge

    kw: dict[str, Any] = {"namespace": "pipecat_twilio", "registry": metrics.registry}
    help_fallback = "1 while Redis is unreachable and this process serves on its own cap."
    fallback = Gauge("shared_limits_fallback", help_fallback, multiprocess_mode="livemax", **kw)
    help_fleet = "Calls running in the fleet, as Redis counts them."
    fleet = Gauge("fleet_calls_active", help_fleet, multiprocess_mode="livemax", **kw)
    limits = RedisCallLimiter.from_url(
        settings.redis_url,
        settings.max_calls,
        local=calls,
        max_calls_per_caller=per_caller,
        lease_s=settings.redis_lease_secs,
    )

    def update() -> None:
        shared = limits.mode == "shared"
        fallback.set(0 if shared else 1)
        if shared:  # else it keeps Redis's last count: read it only while the fallback gauge is 0
            fleet.set(limits.active)

    return limits, update


def _nothing() -> None:
    pass


def create_app(
    settings: BotSettings,
    *,
    twilio_client: Any | None = None,
    metrics: CallMetrics | None = None,
    handle_signals: bool = False,
) -> FastAPI:
    """Build the bot's web app: ``POST /twiml``, ``/ws``, and ``/healthz``, ``/readyz``, ``/metrics``.

    Args:
        settings: The bot's settings. With a Twilio auth token every webhook and media stream must carry
            Twilio's signature and every stream its call's binding token; without one (``ALLOW_UNSIGNED``,
            local tests only) nothing is checked and the bot never calls Twilio's REST API.
        twilio_client: A ``twilio.rest.Client`` for hang-up (tests point one at a local server); by default
            the serializer builds one from the settings' credentials.
        metrics: Where calls are counted (default: a new :class:`CallMetrics` with its own registry).
        handle_signals: Drain on SIGTERM/SIGINT (taken from uvicorn while it serves: see ``service.py``).
            Only for the app a uvicorn process serves in its main thread; never in tests that serve it
            in-process.

    Returns:
        The FastAPI app. ``app.state.call_summaries`` holds the last :data:`SUMMARIES_KEPT` finished
        calls' stats summaries (a ``deque``, newest last),
        ``app.state.calls`` is the per-process :class:`~pipecat_twilio_realtime.CallLimiter`,
        ``app.state.service`` the :class:`~.service.CallService` (live calls, drain) and
        ``app.state.metrics`` the :class:`CallMetrics`.
    """
    metrics = CallMetrics() if metrics is None else metrics
    limits, update_limit_gauges = build_limits(settings, metrics)
    calls = limits.calls
    shared = isinstance(limits, RedisCallLimiter)
    service = CallService(
        limits, drain_timeout_secs=settings.drain_timeout_secs, on_draining=metrics.set_draining
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        installed = handle_signals and service.install_signal_handlers()
        try:
            yield
        finally:
            if installed:
                service.restore_signal_handlers()
            await limits.aclose()
            mark_process_dead()  # this process's live gauges leave the multiprocess directory

    app = FastAPI(title="pipecat-twilio-realtime example bot", lifespan=lifespan)
    app.state.call_summaries = deque(maxlen=SUMMARIES_KEPT)
    app.state.calls = calls
    app.state.limits = limits
    app.state.service = service
    app.state.metrics = metrics
    token = settings.twilio_auth_token
    validator = TwilioSignatureValidator(token, public_host=settings.public_host) if token else None
    secret = settings.stream_binding_secret or token
    binder = StreamBinder(secret) if secret and validator is not None else None
    if validator is None:
        logger.warning(
            f"UNSIGNED MODE ({UNSIGNED_SETTING}): no Twilio signature or stream binding is checked and "
            "anyone who reaches this server can open OpenAI sessions. For local tests only."
        )

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        await limits.count()  # with Redis: the fleet's count now
        ready, reason = service.readiness()
        body: dict[str, Any] = {
            "ready": ready,
            "reason": reason,
            "active_calls": limits.active,
            "max_calls": limits.max_calls,
        }
        if shared:  # "shared", or "local_fallback" while Redis is unreachable
            body |= {"limits": limits.mode, "process_calls": calls.active}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        await limits.count()
        update_limit_gauges()
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    install_debug_routes(app)  # BOT_DEBUG_ENDPOINTS=1 only, loopback clients only (debug.py)

    @app.post("/twiml")
    async def twiml(request: Request) -> Response:
        if not settings.public_host:
            message = "PUBLIC_HOST is not set: Twilio needs a public wss:// URL for the stream"
            logger.error(message)
            return Response(message, status_code=500, media_type="text/plain")
        if validator is not None:
            check = await validator.check_request(request)
            if not check.ok:
                logger.warning(f"refused a webhook ({check.status}): {check.reason}")
                metrics.call_refused("webhook", check.code or "signature")
                return Response(check.reason, status_code=check.status, media_type="text/plain")
            form = dict(check.params)
        else:
            try:
                body = await read_body_capped(request)
            except (BodyTooLarge, ValueError) as e:
                metrics.call_refused("webhook", "body_too_large")
                return Response(str(e), status_code=413, media_type="text/plain")
            try:
                form = dict(parse_form(body))  # the parser the signature check uses
            except ValueError:
                metrics.call_refused("webhook", "bad_body")
                return Response("form body is not a UTF-8 form", status_code=400, media_type="text/plain")
        await limits.count()
        ready, why = service.readiness()
        caller = form.get("From", "")
        per_caller = settings.max_calls_per_caller
        if ready and per_caller is not None and caller and await limits.caller_active(caller) >= per_caller:
            ready, why = False, "caller_limit"
        if not ready:
            where = "transferred" if settings.transfer_to else "busy"
            if why == "draining":
                logger.warning(f"{where}: draining, no new calls")
            elif why == "caller_limit":
                logger.warning(f"{where}: the caller already has {per_caller} call(s) (MAX_CALLS_PER_CALLER)")
            else:
                logger.warning(f"{where}: {_occupancy(limits)}")
            metrics.call_refused("webhook", why)
            return Response(turn_away_twiml(settings.transfer_to), media_type="application/xml")
        parameters = {"caller": caller}
        if binder is not None:
            try:
                parameters[BINDING_PARAMETER] = binder.mint(
                    form.get("CallSid", ""), form.get("AccountSid", "")
                )
            except ValueError as e:
                logger.warning(f"refused a signed webhook without usable call SIDs: {e}")
                metrics.call_refused("webhook", "missing_sids")
                return Response("missing CallSid/AccountSid", status_code=400, media_type="text/plain")
        return Response(twiml_for(settings.public_host, parameters), media_type="application/xml")

    @app.websocket("/ws")
    async def media_stream(websocket: WebSocket) -> None:
        if validator is not None and not await require_twilio_signature(websocket, validator):
            metrics.call_refused("stream", "signature")
            return  # refused before the handshake completes (HTTP 403), nothing started
        call_id = secrets.token_hex(12)  # names the call's slot (and its lease in Redis)
        admission = await limits.try_acquire(call_id)
        if not admission:
            logger.warning(f"refused a media stream: {_occupancy(limits)}")
            metrics.call_refused("stream", admission.reason)
            await websocket.close(code=_TRY_AGAIN_LATER)
            return
        # A stream that arrives while draining is still served: its webhook was answered before the
        # drain began and Twilio is connecting that caller now. The drain waits for it too.
        call = LiveCall()
        service.add(call)
        try:
            await _serve_stream(websocket, call, call_id)
        finally:
            service.remove(call)
            await limits.release(call_id)  # the local slot first, at once; Redis's after (or its lease ends)

    async def _serve_stream(websocket: WebSocket, call: LiveCall, call_id: str) -> None:
        await websocket.accept()
        try:
            start = await wait_for_start(websocket, settings.start_timeout_secs)
        except TimeoutError:
            logger.warning("closing a media stream that sent no valid 'start' in time")
            metrics.call_refused("stream", "no_start")
            with contextlib.suppress(RuntimeError):
                await websocket.close(code=1008)
            return
        except WebSocketDisconnect:
            logger.warning("a media stream disconnected before 'start'")
            metrics.call_refused("stream", "disconnected_before_start")
            return
        sids = f"call {quote_for_log(start.call_sid)} stream {quote_for_log(start.stream_sid)}"
        if binder is not None:
            bound = binder.verify(
                start.custom_parameters.get(BINDING_PARAMETER), start.call_sid, start.account_sid
            )
            if not bound.ok:
                logger.warning(f"refused {sids}: stream binding {bound.reason} ({bound.detail})")
                metrics.call_refused("stream", f"binding_{bound.reason}")
                with contextlib.suppress(RuntimeError):
                    await websocket.close(code=1008)
                return
        caller = start.custom_parameters.get("caller", "")
        admission = await limits.try_add_caller(call_id, caller)
        if not admission:
            logger.warning(f"refused {sids}: its caller already has the most calls (MAX_CALLS_PER_CALLER)")
            metrics.call_refused("stream", admission.reason)
            with contextlib.suppress(RuntimeError):
                await websocket.close(code=_TRY_AGAIN_LATER)
            return
        logger.info(f"{sids} starts (bound to its signed webhook: {binder is not None})")
        call.stream_sid = start.stream_sid
        metrics.call_started()
        outcome = FAILED
        try:
            outcome = await run_bot(
                websocket,
                settings,
                stream_sid=start.stream_sid,
                # Only a call whose stream carried its signed webhook's token may drive REST calls.
                call_sid=start.call_sid if binder is not None else None,
                summaries=app.state.call_summaries,
                twilio_client=twilio_client,
                call=call,
                metrics=metrics,
            )
        finally:
            metrics.call_ended(call.outcome or outcome)
            logger.info(f"{sids} ended: {call.outcome or outcome}")

    return app


def _occupancy(limits: LocalCallLimits) -> str:
    if limits.mode == "process":
        return f"{limits.active} calls already (MAX_CALLS={limits.max_calls})"
    if limits.mode == "local_fallback":
        return f"{limits.active} calls already in this process (Redis unreachable: MAX_CALLS_PER_PROCESS)"
    return (
        f"{limits.active} calls in the fleet (MAX_CALLS={limits.max_calls}), "
        f"{limits.calls.active} in this process (MAX_CALLS_PER_PROCESS={limits.calls.max_calls})"
    )


def create_app_from_env() -> FastAPI:
    """The app for ``uvicorn --factory`` (and each ``--workers`` process): settings from the environment.

    The environment (after ``.env``) is read in the process that serves: ``pipecat-twilio-bot`` loads
    ``.env`` before starting the workers, which inherit it. Drains on SIGTERM.

    Returns:
        The app.
    """
    return create_app(load_settings(), handle_signals=True)
