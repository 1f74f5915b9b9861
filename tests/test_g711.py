"""G.711 μ-law codec: exact per the standard, identical across the C and pure paths."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipecat_twilio_realtime import g711

audioop: ModuleType | None
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop
    except ImportError:  # Python 3.13+ without audioop-lts: only the audioop comparisons are skipped
        audioop = None

needs_audioop = pytest.mark.skipif(audioop is None, reason="audioop is not importable")

EVERY_PCM16 = b"".join(v.to_bytes(2, "little", signed=True) for v in range(-32768, 32768))
EVERY_CODE = bytes(range(256))

pcm16_bytes = st.lists(st.integers(-32768, 32767), max_size=1000).map(
    lambda samples: b"".join(s.to_bytes(2, "little", signed=True) for s in samples)
)


def _formula(code: int) -> int:
    """G.711 μ-law decoding written the textbook way, independently of ``g711.decode_sample``.

    The code is stored complemented; bit 7 set means positive. In 14-bit units a level is
    ``(2 * mantissa + 33) * 2**exponent - 33``; PCM16 is that times 4.
    """
    u = code ^ 0xFF
    negative = u >= 0x80
    exponent, mantissa = (u >> 4) & 0x7, u & 0xF
    level14 = (2 * mantissa + 33) * 2**exponent - 33
    return -4 * level14 if negative else 4 * level14


# ----------------------------------------------------------------------------- decode table


@pytest.mark.parametrize(
    ("code", "pcm"),
    [
        # Points of the μ-law decoding table (Sun g711.c, ITU-T G.711 Table 2a).
        (0x00, -32124),
        (0x80, 32124),
        (0x0F, -16764),
        (0x8F, 16764),
        (0x70, -120),
        (0xF0, 120),
        (0x7E, -8),
        (0xFE, 8),
        (0x7F, 0),
        (0xFF, 0),
    ],
)
def test_decode_table_at_known_points(code: int, pcm: int) -> None:
    assert g711.decode_sample(code) == pcm
    assert g711.decode(bytes([code])) == pcm.to_bytes(2, "little", signed=True)
    assert g711.pure_decode(bytes([code])) == pcm.to_bytes(2, "little", signed=True)


def test_decode_table_equals_the_standard_formula_for_every_code() -> None:
    expected = b"".join(_formula(c).to_bytes(2, "little", signed=True) for c in range(256))
    assert [g711.decode_sample(c) for c in range(256)] == [_formula(c) for c in range(256)]
    assert g711.pure_decode(EVERY_CODE) == expected
    assert g711.decode(EVERY_CODE) == expected


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("code", range(256))
def test_decode_then_encode_is_the_identity_except_negative_zero(code: int) -> None:
    expected = b"\xff" if code == 0x7F else bytes([code])
    assert g711.encode(g711.decode(bytes([code]))) == expected
    assert g711.pure_encode(g711.pure_decode(bytes([code]))) == expected
    assert g711.encode_sample(g711.decode_sample(code)) == expected[0]


@given(st.binary(max_size=2000))
def test_roundtrip_property(ulaw: bytes) -> None:
    pcm = g711.decode(ulaw)
    assert len(pcm) == 2 * len(ulaw)
    assert g711.encode(pcm) == ulaw.replace(b"\x7f", b"\xff")


@given(pcm16_bytes)
def test_encode_lands_on_a_level_that_encodes_the_same(pcm: bytes) -> None:
    # Encoding is idempotent through the decoder: the level a sample maps to is a fixed point.
    ulaw = g711.encode(pcm)
    assert len(ulaw) == len(pcm) // 2
    assert g711.encode(g711.decode(ulaw)) == ulaw.replace(b"\x7f", b"\xff")


# ----------------------------------------------------------------------------- against audioop


@needs_audioop
def test_encode_agrees_with_audioop_on_all_65536_pcm16_values() -> None:
    assert audioop is not None
    reference = audioop.lin2ulaw(EVERY_PCM16, 2)
    assert g711.encode(EVERY_PCM16) == reference
    assert g711.pure_encode(EVERY_PCM16) == reference


@needs_audioop
def test_decode_agrees_with_audioop_on_all_codes() -> None:
    assert audioop is not None
    assert g711.decode(EVERY_CODE) == audioop.ulaw2lin(EVERY_CODE, 2)
    assert g711.pure_decode(EVERY_CODE) == audioop.ulaw2lin(EVERY_CODE, 2)


# ----------------------------------------------------------------------------- pure path == backend path


def test_pure_encode_equals_backend_on_all_65536_pcm16_values() -> None:
    assert g711.pure_encode(EVERY_PCM16) == g711.encode(EVERY_PCM16)


@settings(max_examples=200)
@given(pcm16_bytes)
def test_pure_and_backend_encode_are_identical(pcm: bytes) -> None:
    assert g711.pure_encode(pcm) == g711.encode(pcm)
    assert g711.pure_encode(bytearray(pcm)) == g711.encode(memoryview(pcm))


@settings(max_examples=200)
@given(st.binary(max_size=2000))
def test_pure_and_backend_decode_are_identical(ulaw: bytes) -> None:
    assert g711.pure_decode(ulaw) == g711.decode(ulaw)
    assert g711.pure_decode(bytearray(ulaw)) == g711.decode(memoryview(ulaw))


def test_backend_is_named() -> None:
    assert g711.BACKEND == ("audioop" if audioop is not None else "pure")


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("encode", [g711.encode, g711.pure_encode])
@pytest.mark.parametrize("length", [1, 3, 321])
def test_odd_length_pcm_raises_value_error_naming_the_length(
    encode: Callable[[bytes], bytes], length: int
) -> None:
    with pytest.raises(ValueError, match=rf"\b{length} bytes"):
        encode(b"\x01" * length)


def test_empty_input_is_empty_output() -> None:
    assert g711.encode(b"") == g711.pure_encode(b"") == b""
    assert g711.decode(b"") == g711.pure_decode(b"") == b""


def test_without_audioop_the_public_functions_use_the_pure_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(g711, "_audioop", None)
    assert g711.decode(EVERY_CODE) == g711.pure_decode(EVERY_CODE)
    assert g711.encode(EVERY_PCM16) == g711.pure_encode(EVERY_PCM16)


def test_the_encode_table_is_right_whenever_it_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(g711, "_encode_table", None)  # rebuild it here, not in whichever test ran first
    expected = bytes(g711.encode_sample(v) for v in range(-32768, 32768))
    assert g711.pure_encode(EVERY_PCM16) == expected


# ----------------------------------------------------------------------------- rms and the format rule


def test_rms_of_pcm16() -> None:
    assert g711.rms(b"") == 0.0 and g711.rms(b"\x00") == 0.0  # nothing, or one odd byte
    square = (1000).to_bytes(2, "little", signed=True) + (-1000).to_bytes(2, "little", signed=True)
    assert g711.rms(square * 80) == 1000.0
    assert g711.rms(square * 80 + b"\x7f") == 1000.0  # a trailing odd byte is ignored
    ramp = b"".join(v.to_bytes(2, "little", signed=True) for v in (3, 4))
    assert math.isclose(g711.rms(ramp), math.sqrt((9 + 16) / 2), rel_tol=0.2)


@pytest.mark.parametrize(("rate", "channels"), [(16000, 1), (8000, 2), (24000, 2), (0, 1)])
def test_wrong_format_names_the_audio_and_the_fix(rate: int, channels: int) -> None:
    problem = g711.wrong_format(rate, channels)
    assert problem is not None
    assert f"{rate} Hz x{channels}" in problem and g711.PIPELINE_RATE_HINT in problem


def test_8000_hz_mono_is_the_right_format() -> None:
    assert g711.wrong_format(8000, 1) is None


def test_rms_pure_path_matches_the_c_one(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [
        (1000).to_bytes(2, "little", signed=True) * 3 + (-3000).to_bytes(2, "little", signed=True),
        g711.decode(bytes(range(256))),
        b"\x00\x80" * 10,  # -32768: the largest magnitude
    ]
    with_c = [g711.rms(f) for f in frames]
    monkeypatch.setattr(g711, "_audioop", None)
    pure = [g711.rms(f) for f in frames]
    assert pure[0] == math.sqrt((3 * 1000**2 + 3000**2) / 4)
    assert pure[2] == 32768.0
    for c, p in zip(with_c, pure, strict=True):
        assert abs(c - p) <= 1.0  # audioop rounds down to an integer
