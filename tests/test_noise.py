"""The noise checks on real speech clips and on the ways a phone call turns into noise."""

from __future__ import annotations

import numpy as np
import pytest

from pipecat_twilio_realtime import g711
from pipecat_twilio_realtime.noise import NoiseDetector, find_container_header, window_reason
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
