"""The noise checks on real speech clips and on the ways a phone call turns into noise."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from pipecat_twilio_realtime import g711
from pipecat_twilio_realtime.observe.noise import (
    LIKELY_CAUSES,
    WINDOW_BYTES,
    NoiseDetector,
    find_container_header,
    window_reason,
)
from pipecat_twilio_realtime.testing import CLIP_NAMES, load_clip


def findings(ulaw: bytes) -> set[str]:
    detector = NoiseDetector()
    found: set[str] = set()
    for i in range(0, len(ulaw), 160):  # 20 ms frames, as they go to Twilio
        found |= {f.reason for f in detector.feed(ulaw[i : i + 160], chunk_start=i == 0)}
    return found


def white_noise(seconds: float = 3.0, level: float = 6000.0) -> bytes:
    rng = np.random.default_rng(7)
    return g711.encode(
        np.clip(rng.normal(0, level, int(8000 * seconds)), -32768, 32767).astype("<i2").tobytes()
    )


@pytest.mark.parametrize("clip", CLIP_NAMES)
def test_real_speech_is_quiet(clip: str) -> None:
    assert findings(load_clip(clip)) == set()


@pytest.mark.parametrize("clip", CLIP_NAMES)
def test_pcm16_speech_sent_as_mulaw_fires(clip: str) -> None:
    pcm16 = g711.decode(load_clip(clip))  # the bug: these PCM16 bytes go on the wire as if μ-law
    assert "pcm16_as_ulaw" in findings(pcm16)


def test_white_noise_fires_but_quiet_hiss_does_not() -> None:
    assert findings(white_noise()) == {"white_noise"}
    assert findings(white_noise(level=200.0)) == set()  # a quiet line is not an alarm


def test_full_scale_buzz_fires() -> None:
    t = np.arange(8000 * 2)
    buzz = (np.sign(np.sin(2 * np.pi * 120 * t / 8000)) * 32000).astype("<i2").tobytes()
    assert findings(g711.encode(buzz)) == {"full_scale"}


def test_file_headers_are_recognised() -> None:
    assert find_container_header(b"RIFF\x24\x00\x00\x00WAVEfmt ") == "RIFF"
    assert find_container_header(b"ID3\x04\x00") == "ID3"
    assert find_container_header(load_clip("bot_answer")) is None
    assert "container_header" in findings(b"RIFF" + load_clip("bot_answer"))


def test_one_noisy_window_is_not_enough() -> None:
    speech = load_clip("bot_answer")
    burst = white_noise(0.2)  # a single 200 ms window of noise between speech
    assert findings(speech[:8000] + burst + speech[8000:]) == set()
    assert window_reason(burst)[0] == "white_noise"


# ----------------------------------------------------------------------------- the detector's bookkeeping

NOISE = white_noise(0.2)  # exactly one window of loud hiss
SILENCE = b"\xff" * WINDOW_BYTES  # μ-law zero: a quiet window


def feed_windows(detector: NoiseDetector, *windows: bytes) -> list[list[str]]:
    """Feed whole windows one at a time; the reasons each one confirmed."""
    return [[f.reason for f in detector.feed(w)] for w in windows]


def test_one_window_is_exactly_window_bytes_long() -> None:
    assert len(NOISE) == WINDOW_BYTES == 1600
    detector = NoiseDetector(confirm=1, history=1)
    assert detector.feed(NOISE[:-1]) == [] and detector.windows == 0
    assert [f.reason for f in detector.feed(NOISE[-1:])] == ["white_noise"]
    assert (detector.windows, detector.noisy_windows) == (1, 1)


def test_a_full_window_is_judged_as_soon_as_it_is_complete() -> None:
    detector = NoiseDetector(confirm=1, history=1)
    found = detector.feed(NOISE + NOISE[:100])
    assert [(f.reason, f.rms > 1500) for f in found] == [("white_noise", True)]
    assert (detector.windows, detector.noisy_windows) == (1, 1)


def test_counters_count_every_window_and_the_noisy_ones() -> None:
    detector = NoiseDetector()
    feed_windows(detector, SILENCE, NOISE, SILENCE, NOISE, NOISE)
    assert (detector.windows, detector.noisy_windows) == (5, 3)


def test_noise_is_confirmed_by_the_third_of_five_windows() -> None:
    detector = NoiseDetector()
    assert feed_windows(detector, NOISE, SILENCE, NOISE, SILENCE, NOISE) == [[], [], [], [], ["white_noise"]]


def test_continuous_noise_is_reported_once_not_every_window() -> None:
    detector = NoiseDetector()
    assert feed_windows(detector, *[NOISE] * 8) == [[], [], ["white_noise"], [], [], [], [], []]


def test_noisy_windows_spread_further_apart_than_the_history_never_confirm() -> None:
    detector = NoiseDetector()  # 3 of the last 5
    windows = [NOISE, SILENCE, SILENCE] * 10  # one window in three: at most 2 in any 5
    assert not any(feed_windows(detector, *windows))
    assert (detector.windows, detector.noisy_windows) == (30, 10)


def test_confirm_and_history_are_honoured() -> None:
    once = NoiseDetector(confirm=1, history=1)
    assert feed_windows(once, SILENCE, NOISE, NOISE) == [[], ["white_noise"], ["white_noise"]]
    two_of_two = NoiseDetector(confirm=2, history=2)
    assert feed_windows(two_of_two, NOISE, SILENCE, NOISE, NOISE) == [[], [], [], ["white_noise"]]
    two_of_four = NoiseDetector(confirm=2, history=4)
    assert feed_windows(two_of_four, NOISE, SILENCE, SILENCE, NOISE) == [[], [], [], ["white_noise"]]


@pytest.mark.parametrize(("confirm", "history"), [(0, 5), (-1, 5), (6, 5), (2, 1), (1, 0)])
def test_impossible_confirm_history_pairs_are_refused(confirm: int, history: int) -> None:
    with pytest.raises(ValueError, match="confirm <= history"):
        NoiseDetector(confirm=confirm, history=history)


@pytest.mark.parametrize(("confirm", "history"), [(1, 1), (5, 5), (1, 5)])
def test_the_edge_pairs_are_allowed(confirm: int, history: int) -> None:
    NoiseDetector(confirm=confirm, history=history)


def test_reset_forgets_the_partial_window_and_the_history() -> None:
    detector = NoiseDetector(confirm=2, history=5)
    feed_windows(detector, NOISE)
    detector.feed(NOISE[:800])
    detector.reset()
    assert detector.feed(NOISE[:800]) == []  # the first half was dropped: no window yet
    assert detector.windows == 1
    assert feed_windows(detector, NOISE[800:] + NOISE[:800]) == [[]]  # a fresh history: 1 of 2
    assert feed_windows(detector, NOISE) == [["white_noise"]]


def test_a_container_header_is_reported_at_once_only_at_a_chunk_start() -> None:
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt "
    found = NoiseDetector().feed(wav, chunk_start=True)
    assert [(f.reason, f.rms) for f in found] == [("container_header", 0.0)]
    assert found[0].likely_cause.startswith("RIFF header: ")
    assert NoiseDetector().feed(wav) == []
    assert [f.reason for f in NoiseDetector().feed(b"fLaC\x00", chunk_start=True)] == ["container_header"]
    assert find_container_header(b"OggS\x00\x02") == "OggS"
    assert find_container_header(b"fLaC") == "fLaC"
    assert find_container_header(b"xRIFF") is None


def test_findings_carry_their_likely_cause_and_rms() -> None:
    (found,) = NoiseDetector(confirm=1, history=1).feed(NOISE)
    assert found.likely_cause == LIKELY_CAUSES["white_noise"]
    assert found.rms == pytest.approx(window_reason(NOISE)[1])


# ----------------------------------------------------------------------------- windows of other lengths


def test_windows_shorter_than_64_bytes_are_not_judged() -> None:
    assert window_reason(NOISE[:63]) == (None, 0.0)
    reason, rms = window_reason(NOISE[:64])
    assert rms > 1500 and reason == "white_noise"


@pytest.mark.parametrize("length", [64, 1000, WINDOW_BYTES - 1, WINDOW_BYTES + 1, 4000])
def test_white_noise_is_recognised_in_windows_of_any_length(length: int) -> None:
    noise = white_noise(1.0)[:length]
    assert window_reason(noise)[0] == "white_noise"


def test_speech_is_not_noise_in_windows_of_other_lengths() -> None:
    speech = load_clip("bot_answer")
    for length in (800, 1000, 2400):
        for start in range(0, len(speech) - length, length):
            assert window_reason(speech[start : start + length])[0] is None


def test_rms_is_the_decoded_level() -> None:
    level = 8000
    pcm = np.full(WINDOW_BYTES, level, dtype="<i2").tobytes()
    ulaw = g711.encode(pcm)
    expected = abs(g711.decode_sample(ulaw[0]))
    assert window_reason(ulaw) == (None, pytest.approx(expected))
    assert window_reason(bytes(SILENCE))[1] == 0.0


# ----------------------------------------------------------------------------- the thresholds, at their edges


def _codes(*runs: tuple[int, int]) -> bytes:
    return b"".join(bytes([code]) * count for code, count in runs)


def _interleave(even: bytes, odd: bytes) -> bytes:
    out = bytearray(len(even) + len(odd))
    out[0::2], out[1::2] = even, odd
    return bytes(out)


def test_the_default_history_is_five_windows() -> None:
    # 3 noisy windows within 6 but never within 5: no alarm with the default 3 of 5.
    assert not any(feed_windows(NoiseDetector(), NOISE, SILENCE, SILENCE, NOISE, SILENCE, NOISE))


def test_a_parity_skew_of_exactly_one_half_is_pcm16() -> None:
    # Half the even bytes are 0x00 (the loudest negative code, "extreme"), no odd byte is extreme.
    loud = g711.encode(np.full(800, 6000, dtype="<i2").tobytes())
    window = _interleave(_codes((0x00, 400), (loud[0], 400)), loud)
    assert window_reason(window)[0] == "pcm16_as_ulaw"


def test_pcm16_needs_a_level_above_4000() -> None:
    # Even bytes 0xFF (zero, "extreme"): a parity skew of 1. The odd bytes set the RMS just above 4000.
    odd = _codes((129, 24), (194, 776))
    reason, rms = window_reason(_interleave(b"\xff" * 800, odd))
    assert 4000 < rms <= 4001 and reason == "pcm16_as_ulaw"
    reason, rms = window_reason(_interleave(b"\xff" * 800, _codes((194, 800))))
    assert rms < 4000 and reason is None


def test_a_fifth_of_the_window_at_full_scale_is_enough() -> None:
    at_full_scale = _codes((0x80, 1), (0xFF, 4)) * (WINDOW_BYTES // 5)  # 20 %, spread evenly
    assert window_reason(at_full_scale)[0] == "full_scale"
    assert window_reason(_codes((0x80, 1), (0xFF, 5)) * 266)[0] is None  # under 20 %


def test_white_noise_needs_a_level_above_1500() -> None:
    assert g711.decode_sample(198) == 1500 and g711.decode_sample(70) == -1500
    signs = np.random.default_rng(3).integers(0, 2, WINDOW_BYTES)
    at_1500 = bytes(np.where(signs == 1, 198, 70).astype(np.uint8))
    assert window_reason(at_1500) == (None, 1500.0)
    just_above = bytes([197]) + at_1500[1:]  # one sample at the next level up, 1564
    reason, rms = window_reason(just_above)
    assert 1500 < rms <= 1501 and reason == "white_noise"


def reference_window_reason(ulaw: bytes) -> tuple[str | None, float]:
    """The classifier as first written, sample by sample: the histogram version must agree with it."""
    table = np.array([g711.decode_sample(code) for code in range(256)], dtype=np.float64)
    extreme_table = np.array([(c < 0x10 or c >= 0xF0) for c in range(256)], dtype=np.float64)
    codes = np.frombuffer(ulaw, dtype=np.uint8)
    if len(codes) < 64:
        return None, 0.0
    pcm = table[codes]
    rms = float(np.sqrt(np.mean(pcm * pcm)))
    extreme = extreme_table[codes]
    parity = abs(float(extreme[0::2].mean()) - float(extreme[1::2].mean()))
    if parity >= 0.5 and rms > 4000:
        return "pcm16_as_ulaw", rms
    if float(np.mean(np.abs(pcm) >= 30000)) >= 0.2:
        return "full_scale", rms
    if rms > 1500:
        power = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm)))) ** 2 + 1e-9
        if float(np.exp(np.mean(np.log(power))) / np.mean(power)) > 0.45:
            return "white_noise", rms
    return None, rms


def test_the_histogram_classifier_agrees_with_the_sample_by_sample_one() -> None:
    rng = np.random.default_rng(15)
    speech = b"".join(load_clip(name) for name in CLIP_NAMES)
    pcm16 = g711.decode(speech[:16000])  # PCM16 bytes sent as μ-law
    buzz = g711.encode(np.where(np.arange(8000) % 40 < 20, 32000, -32000).astype("<i2").tobytes())
    sources = [speech, pcm16, buzz, white_noise(2.0), rng.integers(0, 256, 16000, dtype=np.uint8).tobytes()]
    checked = Counter[str | None]()
    for source in sources:
        for size in (64, 65, 320, 321, WINDOW_BYTES):
            for start in range(0, len(source) - size, size * 7):
                window = source[start : start + size]
                reason, rms = window_reason(window)
                expected_reason, expected_rms = reference_window_reason(window)
                assert reason == expected_reason and rms == pytest.approx(expected_rms, rel=1e-12, abs=1e-9)
                checked[reason] += 1
    assert set(checked) == {None, "pcm16_as_ulaw", "full_scale", "white_noise"}, checked  # each path ran
    # An odd window: 33 even positions, 32 odd ones, 16 of them extreme: a parity of exactly 0.5 only when
    # each half is averaged over its own length.
    odd_window = bytes(0x00 if i % 2 and i < 32 else 0x80 for i in range(65))
    assert window_reason(odd_window) == reference_window_reason(odd_window)
    assert window_reason(odd_window)[0] == "pcm16_as_ulaw"
