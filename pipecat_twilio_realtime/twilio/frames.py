"""The few Pipecat frame types this package adds: mark requests, mark echoes and the stream stop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipecat.frames.frames import EndWorkerFrame, OutputTransportMessageFrame, SystemFrame

__all__ = ["TwilioMarkEchoFrame", "TwilioMarkRequestFrame", "TwilioStopFrame"]


@dataclass
class TwilioMarkRequestFrame(OutputTransportMessageFrame):
    """Ask the serializer to send a Twilio ``mark`` once the audio queued before it is sent.

    It travels in order with the output audio (it is a data frame), so the mark lands
    right after the audio that preceded it. The serializer names the mark so that the
    echo can be mapped back to the number of μ-law bytes sent before it; the echo
    arrives as a :class:`TwilioMarkEchoFrame` carrying the same ``label``.

    Parameters:
        label: A free label of yours, returned in the echo.
    """

    message: Any = None
    label: str = "mark"

    def __post_init__(self) -> None:
        """Fill ``message`` with the mark request it stands for."""
        super().__post_init__()
        if self.message is None:
            self.message = {"event": "mark", "mark": {"name": self.label}}


@dataclass
class TwilioMarkEchoFrame(SystemFrame):
    """Twilio echoed one of our marks: the audio before it has played, or was flushed.

    Pushed downstream by the input transport. ``OpenAIRealtimeMuLawLLMService`` uses it to track what
    the caller heard and does not pass it on; processors between the transport and the service, and
    observers, see it.

    Parameters:
        mark_name: The mark's name on the wire.
        label: The label given in the request.
        ulaw_bytes_sent: μ-law bytes the serializer had sent when the mark was sent
            (8 bytes per millisecond), or ``None`` for a mark this serializer did not send.
        played: ``True`` when the audio before the mark was played to the caller;
            ``False`` when a ``clear`` flushed it (Twilio echoes pending marks at once then).
        stream_ms: Twilio's stream clock when it echoed, to within one 20 ms frame: the ``timestamp`` of
            the latest caller ``media`` received before the echo (``None`` before any). The echo and the
            media travel one ordered websocket, so network delay does not move it.
    """

    mark_name: str = ""
    label: str = ""
    ulaw_bytes_sent: int | None = None
    played: bool = True
    stream_ms: int | None = None


@dataclass
class TwilioStopFrame(EndWorkerFrame):
    """Twilio sent ``stop``: the caller hung up or the stream ended. Ends the pipeline cleanly.

    It is an ``EndWorkerFrame``: when it reaches the end of the pipeline the worker sends an
    ``EndFrame`` through the whole pipeline, so every processor stops in order.

    Parameters:
        call_sid: The call SID from the ``stop`` message (unauthenticated: informational).
        tail_audio: Caller audio (PCM16, 8000 Hz, mono) of a partial inbound batch the serializer still
            held at ``stop`` (``inbound_frame_ms`` > 20), so that the caller's last words are not lost:
            ``OpenAIRealtimeMuLawLLMService`` sends it as the session's last append. Empty otherwise.
    """

    call_sid: str = field(default="")
    tail_audio: bytes = field(default=b"", repr=False)
