"""The measured frame sizes for a Twilio call on Pipecat's websocket transport (``BENCHMARKS.md``).

Pipecat's CPU per call follows frame pushes and websocket sends per call-second, so the size of the
outbound Twilio messages is the biggest lever a bot has. Twilio buffers whatever ``media`` it gets,
``clear`` empties that buffer and mark echoes give the real playback position, so messages need not be
20 ms::

    FastAPIWebsocketParams(serializer=serializer, **recommended_transport_params())
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "LEAN_INBOUND_FRAME_MS",
    "RECOMMENDED_INBOUND_FRAME_MS",
    "RECOMMENDED_OUT_10MS_CHUNKS",
    "recommended_transport_params",
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
"""``inbound_frame_ms`` and ``append_interval_ms`` of the documented lean configuration (with
``audio_passthrough=False``): 40 ms more on the oldest caller sample, for about a third of the pushes."""


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
