"""``TwilioStreamStats``: what really crossed one Twilio media stream, counted by the serializer."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["TwilioStreamStats"]


@dataclass
class TwilioStreamStats:
    """Counters of what really crossed the Twilio socket, readable at any time.

    Parameters:
        media_sent: ``media`` messages handed to the transport.
        ulaw_bytes_sent: μ-law bytes in them (8000 per second of audio).
        media_received: ``media`` messages received from Twilio.
        ulaw_bytes_received: μ-law bytes in them.
        marks_sent: ``mark`` messages sent.
        marks_played: mark echoes for audio that was played.
        marks_flushed: mark echoes for audio flushed by a ``clear``.
        clears_sent: ``clear`` messages sent (every one, whether or not audio was queued).
        clears_idle: of those, ``clear``s sent while nothing was queued at Twilio: no mark pending and
            all sent audio played by the line-rate clock. A ``clear`` is sent on every interruption
            (sending one too many is harmless, one too few leaves stale audio); only the others
            (``clears_sent - clears_idle``) cut audio the caller was hearing.
        dtmf_received: ``dtmf`` messages received.
        malformed_dropped: inbound messages dropped as unusable.
        sequence_gaps: places where ``sequenceNumber`` skipped ahead.
        sequence_missing: how many numbers were skipped in all.
        sequence_out_of_order: duplicate or late ``sequenceNumber``s.
        outbound_dropped: outbound frames dropped (no stream SID yet, wrong rate, after ``stop``,
            or a transport message that is not a Twilio message).
        rate_dropped: inbound ``media`` messages dropped for arriving faster than
            ``max_inbound_rate`` times real time (beyond the burst allowance).
        audio_frames_in: ``InputAudioRawFrame``s handed to the pipeline (one per ``media`` message,
            or one per ``inbound_frame_ms`` of audio when batching).
        stop_tail_bytes: μ-law bytes of a partial inbound batch still held when Twilio's ``stop``
            arrived; they travel on as ``TwilioStopFrame.tail_audio`` (the caller's last words).
        unsent_tail_bytes: μ-law bytes of a partial inbound batch still held when the call ended without
            Twilio's ``stop`` (the socket closed): the pipeline is ending, so they are counted, not sent.
    """

    media_sent: int = 0
    ulaw_bytes_sent: int = 0
    media_received: int = 0
    ulaw_bytes_received: int = 0
    marks_sent: int = 0
    marks_played: int = 0
    marks_flushed: int = 0
    clears_sent: int = 0
    clears_idle: int = 0
    dtmf_received: int = 0
    malformed_dropped: int = 0
    sequence_gaps: int = 0
    sequence_missing: int = 0
    sequence_out_of_order: int = 0
    outbound_dropped: int = 0
    rate_dropped: int = 0
    audio_frames_in: int = 0
    stop_tail_bytes: int = 0
    unsent_tail_bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counters as a plain dict (for metrics exporters)."""
        return asdict(self)
