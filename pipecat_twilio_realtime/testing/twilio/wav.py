"""WAV files as μ-law 8000 Hz mono for the simulated caller: read, never resampled."""

from __future__ import annotations

import wave
from pathlib import Path

from ... import g711

__all__ = ["load_wav_as_ulaw"]

_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_MULAW = 7


def load_wav_as_ulaw(path: str | Path) -> bytes:
    """Read a WAV file as μ-law 8000 Hz mono: PCM16 is encoded, μ-law is taken byte for byte.

    Args:
        path: The WAV file.

    Returns:
        μ-law bytes.

    Raises:
        ValueError: If the file is not a WAV, or not 8000 Hz mono 16-bit PCM or 8-bit μ-law
            (nothing is ever resampled: convert it first).
    """
    try:
        with wave.open(str(path), "rb") as wav:
            rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            data = wav.readframes(wav.getnframes())
        tag = _WAVE_FORMAT_PCM
    except wave.Error:
        # The stdlib reads PCM only; μ-law (format 7) is read from the RIFF chunks here.
        tag, channels, rate, width, data = _read_riff_wav(Path(path))
    except EOFError:
        raise ValueError(f"{path}: truncated WAV file") from None
    _check_wav_rate(path, rate, channels)
    if tag == _WAVE_FORMAT_MULAW and width == 1:
        return data
    if tag == _WAVE_FORMAT_PCM and width == 2:
        return g711.encode(data[: len(data) - len(data) % 2])
    raise ValueError(
        f"{path}: WAV format {tag} with {8 * width}-bit samples; the caller needs 16-bit PCM or 8-bit μ-law"
    )


def _check_wav_rate(path: str | Path, rate: int, channels: int) -> None:
    if rate != g711.SAMPLE_RATE or channels != 1:
        raise ValueError(
            f"{path}: {rate} Hz, {channels} channel(s); the caller needs 8000 Hz mono. Convert it first "
            "(e.g. `sox in.wav -r 8000 -c 1 -b 16 out.wav`): this tool never resamples."
        )


def _read_riff_wav(path: Path) -> tuple[int, int, int, int, bytes]:
    """Walk a WAV's RIFF chunks: ``(format tag, channels, rate, bytes per sample, data)``."""
    raw = path.read_bytes()
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a WAV file")
    fmt: tuple[int, int, int, int] | None = None
    at = 12
    while at + 8 <= len(raw):
        chunk_id, size = raw[at : at + 4], int.from_bytes(raw[at + 4 : at + 8], "little")
        body = raw[at + 8 : at + 8 + size]
        if chunk_id == b"fmt " and len(body) >= 16:
            fmt = (
                int.from_bytes(body[0:2], "little"),
                int.from_bytes(body[2:4], "little"),
                int.from_bytes(body[4:8], "little"),
                int.from_bytes(body[14:16], "little"),
            )
        elif chunk_id == b"data":
            if fmt is None:
                raise ValueError(f"{path}: WAV data before its fmt chunk")
            tag, channels, rate, bits = fmt
            return tag, channels, rate, (bits + 7) // 8, body
        at += 8 + size + (size & 1)  # chunks are padded to an even length
    raise ValueError(f"{path}: WAV without {'a data' if fmt else 'a fmt'} chunk")
