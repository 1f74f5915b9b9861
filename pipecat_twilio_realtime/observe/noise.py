"""Is this outbound μ-law audio speech, or noise? Pure checks (no Pipecat, no logging, no I/O).

The phone-noise bug leaves no error anywhere: the bytes on the wire are simply not μ-law speech.
These checks look at the μ-law bytes exactly as they go to Twilio, in 200 ms windows:

* ``pcm16_as_ulaw`` — PCM16 little-endian bytes sent as μ-law: every other byte is a PCM high byte,
  near 0x00 or 0xFF for ordinary levels, so the two byte positions have very different statistics
  (real μ-law speech: the same statistics at both). Measured on the shipped clips: parity skew
  0.79–0.93 for PCM16 sent as μ-law, at most 0.04 for speech.
* ``full_scale`` — a large share of samples at (near) full scale: buzz, clipping, or raw bytes
  decoded as loud codes.
* ``white_noise`` — a loud window whose spectrum is flat (spectral flatness over 0.45 at RMS over
  1500): hiss or random bytes. Speech windows measured at most 0.40 when that loud.
* ``container_header`` — a WAV/MP3/Ogg/FLAC header inside the stream: a file sent as audio.

A window reason only counts once it holds for most of the recent windows (:class:`NoiseDetector`),
so a single fricative or click never raises the alarm.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .. import g711

__all__ = ["WINDOW_BYTES", "NoiseDetector", "NoiseFinding", "find_container_header", "window_reason"]

WINDOW_BYTES = 1600  # 200 ms of μ-law at 8000 Hz

LIKELY_CAUSES = {
    "pcm16_as_ulaw": (
        "PCM16 bytes are being sent where Twilio expects μ-law: check the serializer (only "
        "TwilioMediaStreamSerializer should encode) and that no processor pushes raw wire bytes as audio"
    ),
    "full_scale": (
        "audio at full scale (buzz/clipping): μ-law bytes treated as PCM16, a volume/gain gone wrong, "
        "or raw bytes decoded twice"
    ),
    "white_noise": (
        "loud noise with a flat spectrum: μ-law bytes resampled or mixed as if they were PCM, or a "
        "Realtime session whose output format is not audio/pcmu"
    ),
    "container_header": "a WAV/MP3/Ogg/FLAC file header inside the audio: a file was sent as raw audio",
}

_HEADERS = (b"RIFF", b"ID3", b"OggS", b"fLaC")
_DECODE_TABLE = np.array([g711.decode_sample(code) for code in range(256)], dtype=np.float64)
_SQUARE = _DECODE_TABLE * _DECODE_TABLE  # exact: squares of 14-bit values, summed far below 2**53
_FULL_SCALE = (np.abs(_DECODE_TABLE) >= 30000).astype(np.float64)
_EXTREME = np.array([(code < 0x10 or code >= 0xF0) for code in range(256)], dtype=np.float64)
_HANN = np.hanning(WINDOW_BYTES)


@dataclass(frozen=True)
class NoiseFinding:
    """One reason outbound audio cannot be speech.

    Parameters:
        reason: ``pcm16_as_ulaw``, ``full_scale``, ``white_noise`` or ``container_header``.
        likely_cause: What usually produces it, in words.
        rms: RMS (PCM16 units) of the window that confirmed it.
    """

    reason: str
    likely_cause: str
    rms: float


def find_container_header(ulaw: bytes) -> str | None:
    """Return the file magic (``RIFF``, ``ID3``, ``OggS``, ``fLaC``) a chunk starts with, else ``None``."""
    for magic in _HEADERS:
        if ulaw.startswith(magic):
            return magic.decode("ascii")
    return None


def window_reason(ulaw: bytes) -> tuple[str | None, float]:
    """Classify one window of μ-law bytes (ideally :data:`WINDOW_BYTES` long).

    Args:
        ulaw: The μ-law bytes.

    Returns:
        ``(reason or None, rms)``.
    """
    codes = np.frombuffer(ulaw, dtype=np.uint8)
    n = len(codes)
    if n < 64:
        return None, 0.0
    # Every statistic but the spectrum depends only on how often each code occurs (at even and at odd
    # positions): two histograms and a few dot products, instead of decoding the window sample by sample.
    even = np.bincount(codes[0::2], minlength=256)
    odd = np.bincount(codes[1::2], minlength=256)
    counts = even + odd
    rms = float(np.sqrt(float(counts @ _SQUARE) / n))
    parity = abs(float(even @ _EXTREME) / ((n + 1) // 2) - float(odd @ _EXTREME) / (n // 2))
    if parity >= 0.5 and rms > 4000:
        return "pcm16_as_ulaw", rms
    if float(counts @ _FULL_SCALE) / n >= 0.2:
        return "full_scale", rms
    if rms > 1500:
        pcm = _DECODE_TABLE[codes]
        window = _HANN if n == WINDOW_BYTES else np.hanning(n)
        power = np.abs(np.fft.rfft(pcm * window)) ** 2 + 1e-9
        flatness = float(np.exp(np.mean(np.log(power))) / np.mean(power))
        if flatness > 0.45:
            return "white_noise", rms
    return None, rms


class NoiseDetector:
    """Feeds outbound μ-law through :func:`window_reason` and confirms a reason that persists.

    A reason is reported once it holds in ``confirm`` of the last ``history`` windows (default 3 of 5:
    0.6 s of a 1 s span); a container header is reported at once.
    """

    def __init__(self, *, confirm: int = 3, history: int = 5) -> None:
        """Initialize the detector.

        Args:
            confirm: Windows with the same reason needed to report it.
            history: How many recent windows are considered.
        """
        if not 1 <= confirm <= history:
            raise ValueError("need 1 <= confirm <= history")
        self._confirm = confirm
        self._recent: deque[str | None] = deque(maxlen=history)
        self._buffer = bytearray()
        self.windows = 0
        self.noisy_windows = 0

    def feed(self, ulaw: bytes, *, chunk_start: bool = False) -> list[NoiseFinding]:
        """Add outbound μ-law bytes.

        Args:
            ulaw: The bytes, in wire order.
            chunk_start: Whether ``ulaw`` starts a new chunk (then a file header is looked for).

        Returns:
            Findings confirmed by these bytes (usually none).
        """
        found: list[NoiseFinding] = []
        if chunk_start:
            magic = find_container_header(ulaw)
            if magic is not None:
                found.append(
                    NoiseFinding(
                        "container_header", f"{magic} header: {LIKELY_CAUSES['container_header']}", 0.0
                    )
                )
        self._buffer += ulaw
        while len(self._buffer) >= WINDOW_BYTES:
            window = bytes(self._buffer[:WINDOW_BYTES])
            del self._buffer[:WINDOW_BYTES]
            reason, rms = window_reason(window)
            self.windows += 1
            self._recent.append(reason)
            if reason is not None:
                self.noisy_windows += 1
                if self._recent.count(reason) == self._confirm:
                    found.append(NoiseFinding(reason, LIKELY_CAUSES[reason], rms))
        return found

    def reset(self) -> None:
        """Forget partial windows and history (e.g. after a ``clear``)."""
        self._buffer.clear()
        self._recent.clear()
