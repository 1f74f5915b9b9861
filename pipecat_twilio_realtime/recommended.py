"""The measured configuration for a Twilio call on Pipecat's websocket transport (``BENCHMARKS.md``).

Pipecat's CPU per call follows frame pushes and websocket sends per call-second, so the size of the
outbound Twilio messages is the biggest lever a bot has. Twilio buffers whatever ``media`` it gets,
``clear`` empties that buffer and mark echoes give the real playback position, so messages need not be
20 ms. Reply audio is sent a bounded lead ahead of its play time (``docs/playout.md``), so network jitter
and stalls are absorbed by Twilio's buffer instead of heard as gaps. The recommended configuration::

    SendAheadWebsocketTransport(websocket, FastAPIWebsocketParams(serializer=serializer,
                                                                  **recommended_transport_params()))
    LLMContextAggregatorPair(context, user_params=recommended_user_aggregator_params())
    PipelineWorker(pipeline, params=..., observers=[...], **recommended_worker_params())

The documented lean one adds ``inbound_frame_ms=LEAN_INBOUND_FRAME_MS`` on the serializer,
``append_interval_ms=LEAN_INBOUND_FRAME_MS`` on the service and ``recommended_worker_params(lean=True)``.
"""

from __future__ import annotations

from typing import Any

from pipecat.processors.aggregators.llm_response_universal import LLMUserAggregatorParams
from pipecat.turns.user_start import ExternalUserTurnStartStrategy
from pipecat.turns.user_stop import ExternalUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

__all__ = [
    "LEAN_INBOUND_FRAME_MS",
    "RECOMMENDED_INBOUND_FRAME_MS",
    "RECOMMENDED_OUT_10MS_CHUNKS",
    "recommended_transport_params",
    "recommended_user_aggregator_params",
    "recommended_worker_params",
]

RECOMMENDED_OUT_10MS_CHUNKS = 10
"""``audio_out_10ms_chunks`` for Twilio: 100 ms ``media`` messages.

Measured against 20/40/60 ms (``benchmarks/bench_chunks.py``): the caller's first audio comes as early
(a reply's first delta fills a chunk at once), a reply's last partial chunk still goes out when the
reply ends (Pipecat pads and flushes it on ``TTSStoppedFrame``), barge-in truncation stays within the
mark interval, and the bot process spends far less CPU per call.
"""

RECOMMENDED_INBOUND_FRAME_MS = 40
"""``TwilioMediaStreamSerializer.InputParams.inbound_frame_ms`` to use: two Twilio frames per pipeline frame.

Half the caller-frame pushes of 20 ms for 20 ms more on the oldest sample (the service appends each
40 ms frame as it comes, so caller audio still reaches OpenAI well within 50 ms). ``InputParams`` keeps
20 as its own default so existing pipelines see the same frames until they opt in.
"""

LEAN_INBOUND_FRAME_MS = 60
"""``inbound_frame_ms`` and ``append_interval_ms`` of the documented lean configuration: 20 ms more on the
oldest caller sample than the recommended 40 (still within 50 ms at OpenAI), a third fewer caller frames
and appends."""


def recommended_transport_params() -> dict[str, Any]:
    """The ``FastAPIWebsocketParams`` keyword arguments this package measured for Twilio calls.

    Returns:
        Audio in and out on, ``audio_out_10ms_chunks`` = :data:`RECOMMENDED_OUT_10MS_CHUNKS`.
    """
    return {
        "audio_in_enabled": True,
        "audio_out_enabled": True,
        "audio_out_10ms_chunks": RECOMMENDED_OUT_10MS_CHUNKS,
    }


def recommended_worker_params(*, lean: bool = False) -> dict[str, Any]:
    """The ``PipelineWorker`` keyword arguments this package measured for Twilio calls.

    RTVI is off: it speaks to a browser or app client over the transport, and a Twilio media stream
    cannot carry its messages (the serializer drops them), yet by default it adds a processor at the
    head of the pipeline, an observer that takes every frame, and a message pushed through the whole
    pipeline for each bot word and speaking event — about 0.13x of stock's CPU per call
    (``BENCHMARKS.md``).

    Args:
        lean: Also turn Pipecat's turn tracking off: no ``on_turn_started``/``on_turn_ended`` events on the
            worker and no OpenTelemetry turn traces, one observer fewer on every frame.

    Returns:
        ``enable_rtvi=False`` (and ``enable_turn_tracking=False`` when lean).
    """
    params: dict[str, Any] = {"enable_rtvi": False}
    if lean:
        params["enable_turn_tracking"] = False
    return params


def recommended_user_aggregator_params() -> LLMUserAggregatorParams:
    """The user context aggregator's parameters for a Realtime service that detects turns itself.

    Pipecat's default turn strategies load the local Smart Turn model (ONNX) for every call, only to
    replace them with external ones once the Realtime service announces that its server detects turns:
    about 35 ms of CPU and an ONNX session per call, for nothing. This starts with the external ones,
    already as Pipecat's realtime mode sets them (the stop strategy does not wait for a transcript), so
    the aggregator has nothing to change and logs no warning about changing strategies it was given.
    Do not use it with ``turn_detection`` switched off in the session (then Pipecat's local strategies
    are what ends a turn).

    Returns:
        User aggregator parameters with external start and stop strategies (``wait_for_transcript=False``).
    """
    return LLMUserAggregatorParams(
        user_turn_strategies=UserTurnStrategies(
            start=[ExternalUserTurnStartStrategy()],
            stop=[ExternalUserTurnStopStrategy(wait_for_transcript=False)],
        )
    )
