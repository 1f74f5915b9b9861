"""G.711 μ-law codec: μ-law bytes ⇄ PCM16 little-endian, exact per ITU-T G.711.

The decode table is built from the standard formula; the encoder is the
classic segment search on the top 14 bits of the sample (the same rounding as
Sun's reference ``g711.c`` and CPython's ``audioop``). Both directions are pure
table look-ups, so they are exact and cheap:

* ``decode(encode(pcm))`` is the nearest μ-law level to ``pcm``;
* ``encode(decode(b)) == b`` for every code except ``0x7F`` (negative zero),
  which comes back as ``0xFF`` (positive zero): the same sound.

No resampling happens here: 1 μ-law byte is exactly one PCM16 sample (2 bytes)
at the same 8000 Hz rate.
"""

from __future__ import annotations

import math
import sys
from array import array

__all__ = [
    "BACKEND",
    "SAMPLE_RATE",
    "decode",
    "decode_sample",
    "encode",
    "encode_sample",
    "pure_decode",
    "pure_encode",
    "rms",
    "wrong_format",
]

SAMPLE_RATE = 8000
"""G.711 on a phone line runs at 8000 samples per second, one byte per sample."""

PIPELINE_RATE_HINT = "PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000)"
"""The Pipecat setting that keeps a pipeline's audio at G.711's rate."""

_BIAS = 0x84
_CLIP14 = 8159  # 32635 >> 2: the largest magnitude μ-law can represent, in 14-bit units
_SEGMENT_ENDS = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)


def decode_sample(code: int) -> int:
    """Decode one μ-law code (0..255) to a linear PCM16 value.

    Args:
        code: The μ-law byte.

    Returns:
        The signed 16-bit linear sample.
    """
    u = ~code & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return -magnitude if u & 0x80 else magnitude


def encode_sample(pcm: int) -> int:
    """Encode one signed 16-bit linear sample to a μ-law code.

    Args:
        pcm: The sample, -32768..32767.

    Returns:
        The μ-law byte (0..255).
    """
    value = pcm >> 2  # G.711 μ-law works on 14-bit magnitudes
    if value < 0:
        value = -value
        mask = 0x7F
    else:
        mask = 0xFF
    value = min(value, _CLIP14) + (_BIAS >> 2)
    for segment, end in enumerate(_SEGMENT_ENDS):
        if value <= end:
            return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask
    return 0x7F ^ mask  # unreachable after clipping; kept for the formula's sake


try:  # CPython's C codec: stdlib up to 3.12, the ``audioop-lts`` package from 3.13.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop as _audioop
except ImportError:  # pragma: no cover - exercised by tests through the pure functions
    _audioop = None  # type: ignore[assignment]

# Decode: one 2-byte little-endian PCM16 string per μ-law code.
_DECODE_PAIRS: tuple[bytes, ...] = tuple(
    decode_sample(code).to_bytes(2, "little", signed=True) for code in range(256)
)
_encode_table: bytes | None = None
_BIG_ENDIAN = sys.byteorder == "big"

BACKEND = "audioop" if _audioop is not None and not _BIG_ENDIAN else "pure"
"""Which implementation ``decode``/``encode`` use: ``"audioop"`` (C, ~60x faster, see
``benchmarks/``) or ``"pure"`` (the tables here). Both give identical bytes; the tests prove it."""


def _table_for_encode() -> bytes:
    """Build (once) the 65536-entry table indexed by a sample's unsigned 16-bit pattern."""
    global _encode_table
    if _encode_table is None:
        _encode_table = bytes(encode_sample(u - 65536 if u >= 32768 else u) for u in range(65536))
    return _encode_table


def _check_pcm16(pcm16: bytes | bytearray | memoryview) -> None:
    if len(pcm16) % 2:
        raise ValueError(f"PCM16 audio must be whole 2-byte samples, got {len(pcm16)} bytes")


def pure_decode(ulaw: bytes | bytearray | memoryview) -> bytes:
    """Decode μ-law to PCM16 LE with the pure-Python tables (the reference path)."""
    return b"".join(map(_DECODE_PAIRS.__getitem__, ulaw))


def pure_encode(pcm16: bytes | bytearray | memoryview) -> bytes:
    """Encode PCM16 LE to μ-law with the pure-Python tables (the reference path)."""
    _check_pcm16(pcm16)
    samples = array("H")
    samples.frombytes(pcm16)
    if _BIG_ENDIAN:  # pragma: no cover - every supported CI machine is little-endian
        samples.byteswap()
    return bytes(map(_table_for_encode().__getitem__, samples))


def decode(ulaw: bytes | bytearray | memoryview) -> bytes:
    """Decode μ-law bytes to PCM16 little-endian mono, one sample per byte.

    Args:
        ulaw: μ-law encoded audio.

    Returns:
        PCM16 little-endian bytes, exactly ``2 * len(ulaw)`` long.
    """
    if _audioop is not None and not _BIG_ENDIAN:
        return _audioop.ulaw2lin(ulaw, 2)
    return pure_decode(ulaw)


def encode(pcm16: bytes | bytearray | memoryview) -> bytes:
    """Encode PCM16 little-endian mono to μ-law, one byte per sample.

    Args:
        pcm16: PCM16 little-endian audio; its length must be even.

    Returns:
        μ-law bytes, exactly ``len(pcm16) // 2`` long.

    Raises:
        ValueError: If ``pcm16`` has an odd number of bytes (not whole samples).
    """
    _check_pcm16(pcm16)
    if _audioop is not None and not _BIG_ENDIAN:
        return _audioop.lin2ulaw(pcm16, 2)
    return pure_encode(pcm16)


def wrong_format(sample_rate: int, num_channels: int) -> str | None:
    """Say why PCM16 audio cannot become G.711 as it is, or ``None`` when it is 8000 Hz mono.

    Nothing in this package resamples: audio at another rate is a configuration error to name, not fix.

    Args:
        sample_rate: The audio's rate.
        num_channels: Its channels.

    Returns:
        The reason, with the setting that fixes it, or ``None``.
    """
    if sample_rate == SAMPLE_RATE and num_channels == 1:
        return None
    return (
        f"{sample_rate} Hz x{num_channels} is not 8000 Hz mono, and μ-law is never resampled here. "
        f"Use {PIPELINE_RATE_HINT}."
    )


def rms(pcm16: bytes | bytearray | memoryview) -> float:
    """Root mean square of PCM16 little-endian samples (0.0 for none; a trailing odd byte is ignored)."""
    data = bytes(pcm16[: len(pcm16) - len(pcm16) % 2])
    if not data:
        return 0.0
    if _audioop is not None and not _BIG_ENDIAN:  # C: ~30x cheaper than Python on a 20 ms frame
        return float(_audioop.rms(data, 2))
    samples = array("h", data)
    if _BIG_ENDIAN:  # pragma: no cover
        samples.byteswap()
    return math.sqrt(sum(s * s for s in samples) / len(samples))
