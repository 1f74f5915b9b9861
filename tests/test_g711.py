"""G.711 μ-law codec: exact per the standard, identical across the C and pure paths."""

import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipecat_twilio_realtime import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    audioop = pytest.importorskip("audioop")


def test_decode_sample_matches_standard_values() -> None:
    # Values from the G.711 μ-law decoding table (Sun g711.c / ITU-T G.711).
    assert g711.decode_sample(0x00) == -32124
    assert g711.decode_sample(0x80) == 32124
    assert g711.decode_sample(0xFF) == 0
    assert g711.decode_sample(0x7F) == 0
    assert g711.decode_sample(0x7E) == -8
    assert g711.decode_sample(0xFE) == 8
    assert g711.decode_sample(0x0F) == -16764


def test_decode_encode_identity_for_every_code_except_negative_zero() -> None:
    for code in range(256):
        back = g711.encode(g711.decode(bytes([code])))
        assert back == (b"\xff" if code == 0x7F else bytes([code])), hex(code)


@given(st.binary(max_size=2000))
def test_roundtrip_property(data: bytes) -> None:
    assert g711.encode(g711.decode(data)) == data.replace(b"\x7f", b"\xff")
    assert len(g711.decode(data)) == 2 * len(data)


def test_encode_agrees_with_audioop_on_all_pcm16_values() -> None:
    everything = b"".join(v.to_bytes(2, "little", signed=True) for v in range(-32768, 32768))
    assert g711.encode(everything) == audioop.lin2ulaw(everything, 2)
    assert g711.pure_encode(everything) == audioop.lin2ulaw(everything, 2)


def test_decode_agrees_with_audioop_on_all_codes() -> None:
    codes = bytes(range(256))
    assert g711.decode(codes) == audioop.ulaw2lin(codes, 2)
    assert g711.pure_decode(codes) == audioop.ulaw2lin(codes, 2)


@given(st.binary(max_size=4000).filter(lambda b: len(b) % 2 == 0))
def test_pure_and_backend_paths_are_identical(pcm: bytes) -> None:
    assert g711.pure_encode(pcm) == g711.encode(pcm)
    assert g711.pure_decode(pcm) == g711.decode(pcm)


@pytest.mark.parametrize("encode", [g711.encode, g711.pure_encode])
def test_odd_length_pcm_is_rejected_with_its_length(encode) -> None:
    with pytest.raises(ValueError, match="3 bytes"):
        encode(b"\x00\x01\x02")


def test_backend_is_reported() -> None:
    assert g711.BACKEND in {"audioop", "pure"}
