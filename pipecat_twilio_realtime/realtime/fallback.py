"""What the caller hears instead of silence when the Realtime session cannot go on: an apology, an end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources

from pipecat.frames.frames import EndWorkerFrame, Frame, TTSAudioRawFrame, TTSStartedFrame, TTSStoppedFrame
from pipecat.processors.frame_processor import FrameDirection

from .. import g711
from ..twilio.frames import TwilioMarkRequestFrame

__all__ = ["APOLOGY_TEXT", "FALLBACK_MARK", "load_apology", "play_and_end"]

APOLOGY_TEXT = "I'm sorry, we're having technical trouble right now. Please call back in a few minutes."
"""What the shipped apology clip says (``pipecat_twilio_realtime/clips/apology.ulaw``)."""

FALLBACK_MARK = "fallback:apology-played"
"""Label of the Twilio mark sent after the apology: its echo means the caller has heard it all."""

_FRAME_BYTES = 8000  # one second of μ-law per frame; the output transport cuts it into 20 ms messages
_STREAM_WAIT_S = 2.0  # how long to wait for the caller's first audio (proof the stream has started)
_ECHO_SLACK_S = 2.0  # beyond the clip's own length, for the mark echo to come back

Push = Callable[[Frame, FrameDirection], Awaitable[None]]


@cache
def load_apology() -> bytes:
    """Return the shipped apology: μ-law, 8000 Hz, mono, headerless (see :data:`APOLOGY_TEXT`)."""
    package = __package__.rpartition(".")[0]
    return resources.files(package).joinpath("clips", "apology.ulaw").read_bytes()


async def play_and_end(
    push: Push,
    *,
    audio: bytes,
    end_reason: object,
    live: asyncio.Event,
    played: asyncio.Event,
) -> None:
    """Play ``audio`` to the caller, wait until it has been heard (bounded), then end the call.

    Args:
        push: The service's ``push_frame``.
        audio: μ-law bytes to play (may be empty).
        end_reason: ``EndWorkerFrame.reason``: a :class:`~pipecat_twilio_realtime.TwilioCallUpdate`
            makes the serializer transfer the call instead of hanging up.
        live: Set once caller audio has arrived (the Twilio stream has started: audio sent before its
            ``start`` would be dropped).
        played: Set when the mark sent after the audio is echoed.
    """
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(live.wait(), _STREAM_WAIT_S)
    if audio:
        await push(TTSStartedFrame(), FrameDirection.DOWNSTREAM)
        for start in range(0, len(audio), _FRAME_BYTES):
            pcm = g711.decode(audio[start : start + _FRAME_BYTES])
            frame = TTSAudioRawFrame(audio=pcm, sample_rate=g711.SAMPLE_RATE, num_channels=1)
            await push(frame, FrameDirection.DOWNSTREAM)
        await push(TTSStoppedFrame(), FrameDirection.DOWNSTREAM)
        await push(TwilioMarkRequestFrame(label=FALLBACK_MARK), FrameDirection.DOWNSTREAM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(played.wait(), len(audio) / 8000 + _ECHO_SLACK_S)
    await push(EndWorkerFrame(reason=end_reason), FrameDirection.UPSTREAM)
