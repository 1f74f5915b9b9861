"""One call's pipeline: Twilio serializer → context → μ-law Realtime service → output, pinned at 8000 Hz."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import MutableSequence
from typing import TYPE_CHECKING, Any

from fastapi import WebSocket
from loguru import logger
from pipecat.frames.frames import LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.services.openai.realtime import events
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams
from pipecat.workers.runner import WorkerRunner

from pipecat_twilio_realtime import (
    RECOMMENDED_INBOUND_FRAME_MS,
    MediaStatsObserver,
    OpenAIRealtimeMuLawLLMService,
    SendAheadWebsocketTransport,
    TwilioMediaStreamSerializer,
    TwilioStopFrame,
    quote_for_log,
    recommended_transport_params,
    recommended_user_aggregator_params,
    recommended_worker_params,
    watch_inactivity,
)

from .service import BOT_HUNG_UP, CALLER_HUNG_UP, FAILED, TIMED_OUT, LiveCall
from .settings import BotSettings
from .tools import HANDLERS, TOOLS, transfer_to

if TYPE_CHECKING:
    from pipecat_twilio_realtime.observe.metrics import CallMetrics


def build_llm(settings: BotSettings) -> OpenAIRealtimeMuLawLLMService:
    """Build the Realtime service, μ-law both ways (the service pins the formats itself).

    Args:
        settings: The bot's settings (key, URL, model, prompt, voice).

    Returns:
        The service, with the example tools registered and keypad presses sent to the model.
    """
    llm = OpenAIRealtimeMuLawLLMService(
        api_key=settings.openai_api_key,
        base_url=settings.realtime_url,
        transfer_to=settings.transfer_to,  # when OpenAI fails: the apology, then this number
        dtmf_to_model=True,  # "press 0 for a person": the model reads the key press (transfer_to_person)
        settings=OpenAIRealtimeMuLawLLMService.Settings(
            model=settings.model,
            system_instruction=settings.system_prompt,
            session_properties=events.SessionProperties(
                audio=events.AudioConfiguration(output=events.AudioOutput(voice=settings.voice)),
            ),
        ),
    )
    for name, handler in HANDLERS.items():
        llm.register_function(name, handler)
    llm.register_function("transfer_to_person", transfer_to(settings.transfer_to))
    return llm


async def run_bot(
    websocket: WebSocket,
    settings: BotSettings,
    *,
    stream_sid: str,
    call_sid: str | None = None,
    summaries: MutableSequence[dict[str, Any]] | None = None,
    twilio_client: Any | None = None,
    call: LiveCall | None = None,
    metrics: CallMetrics | None = None,
) -> str:
    """Run one call's pipeline until the caller or the bot hangs up.

    Args:
        websocket: The accepted media-stream websocket, Twilio's ``start`` already read from it.
        settings: The bot's settings.
        stream_sid: The stream SID from ``start``.
        call_sid: The call to hang up through Twilio's REST API when the bot ends the call. Pass it only
            for a stream whose handshake Twilio signed (``start`` itself is unauthenticated); with ``None``
            the bot just closes the socket.
        summaries: Where to append the call's ``MediaStatsObserver`` summary when it ends.
        twilio_client: A ``twilio.rest.Client`` for hang-up (default: built from the settings).
        call: The service's handle on this call: it gets the worker and a way to end the call (the
            drain uses them), and records who ended it.
        metrics: Where the call's summary is counted.

    Returns:
        How the call ended: ``caller_hung_up``, ``bot_hung_up``, ``timed_out``, ``failed`` (the OpenAI
        session was lost), or the outcome whoever ended it through ``call.end`` gave.
    """
    call = LiveCall(stream_sid=stream_sid) if call is None else call
    hang_up = call_sid is not None and settings.twilio_account_sid is not None
    serializer = TwilioMediaStreamSerializer(
        stream_sid=stream_sid,
        call_sid=call_sid if hang_up else None,
        account_sid=settings.twilio_account_sid if hang_up else None,
        auth_token=settings.twilio_auth_token if hang_up else None,
        twilio_client=twilio_client if hang_up else None,
        # two Twilio frames per pipeline frame: half the pushes, 20 ms more on the oldest caller sample
        params=TwilioMediaStreamSerializer.InputParams(inbound_frame_ms=RECOMMENDED_INBOUND_FRAME_MS),
    )
    # reply audio leaves DEFAULT_SEND_AHEAD_MS ahead of its play time (docs/playout.md)
    transport = SendAheadWebsocketTransport(
        websocket,
        # 100 ms Twilio media messages: the measured default (BENCHMARKS.md, "Message size")
        FastAPIWebsocketParams(add_wav_header=False, serializer=serializer, **recommended_transport_params()),
    )
    llm = build_llm(settings)
    # the Realtime server detects turns: no local Smart Turn model per call (BENCHMARKS.md)
    aggregators = LLMContextAggregatorPair(
        LLMContext(messages=[], tools=TOOLS), user_params=recommended_user_aggregator_params()
    )
    observer = MediaStatsObserver(
        serializer=serializer,
        service=llm,
        params=MediaStatsObserver.InputParams(record_dir=settings.record_dir),  # None: no recording
    )

    @observer.event_handler("on_call_summary")
    async def on_call_summary(_observer: MediaStatsObserver, summary: dict[str, Any]) -> None:
        if summaries is not None:
            summaries.append(summary)

    if metrics is not None:
        metrics.observe(observer)

    pipeline = Pipeline(
        [transport.input(), aggregators.user(), llm, transport.output(), aggregators.assistant()]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
        observers=[observer],
        **recommended_worker_params(),  # no RTVI: a Twilio stream cannot carry its messages
    )

    @transport.event_handler("on_client_connected")
    async def on_client_connected(_transport: Any, _ws: Any) -> None:
        await worker.queue_frames([LLMRunFrame()])  # the bot speaks first

    # Twilio's 'stop' (the caller hung up) ends the pipeline by itself, often before the socket closes.
    worker.add_reached_downstream_filter((TwilioStopFrame,))

    @worker.event_handler("on_frame_reached_downstream")
    async def on_frame_reached_downstream(_worker: Any, frame: Any) -> None:
        if isinstance(frame, TwilioStopFrame):
            call.set_outcome(CALLER_HUNG_UP)

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(_transport: Any, _ws: Any) -> None:
        call.set_outcome(CALLER_HUNG_UP)
        await worker.cancel()

    async def end_call(reason: str) -> None:
        logger.warning(f"ending stream {quote_for_log(stream_sid)}: {reason}")
        await worker.cancel()

    async def on_idle(reason: str) -> None:
        call.set_outcome(TIMED_OUT)
        await end_call(reason)

    async def end_politely(reason: str) -> None:
        # at the drain limit: the apology, then hang-up (or transfer), as when OpenAI fails
        logger.warning(f"ending stream {quote_for_log(stream_sid)} with the apology: {reason}")
        await llm.end_with_fallback(reason)

    call.worker = worker
    call.set_ender(end_politely)

    logger.info(f"stream {quote_for_log(stream_sid)} starts (hang-up through Twilio: {hang_up})")
    watchdog = asyncio.create_task(watch_inactivity(serializer, settings.inactivity_timeout_secs, on_idle))
    try:
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()
    except Exception:
        call.set_outcome(FAILED)
        raise
    finally:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
    realtime = llm.stats
    if call.outcome in (None, CALLER_HUNG_UP) and (realtime.realtime_lost or realtime.session_failure):
        call.outcome = FAILED  # the session died first; the socket closing after it is a consequence
    call.set_outcome(BOT_HUNG_UP)  # nothing else ended it: the worker ended itself (end_call)
    return call.outcome or BOT_HUNG_UP
