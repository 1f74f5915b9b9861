"""ReplyGuard (pure) and the service's use of it: noise is stopped before the wire, speech never is."""

from __future__ import annotations

import base64
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pipecat.frames.frames import EndWorkerFrame, Frame, TTSAudioRawFrame, TTSStoppedFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.openai.realtime import events

from pipecat_twilio_realtime import OpenAIRealtimeMuLawLLMService, g711
from pipecat_twilio_realtime.realtime.reply_guard import ReplyGuard
from pipecat_twilio_realtime.realtime.voices import check_voice, realtime_voices
from pipecat_twilio_realtime.testing import CLIP_NAMES, load_clip

SPEECH_SET = Path(__file__).parents[1] / "data" / "speech" / "speech_set.ulaw"


def _pcm16_24k_as_ulaw(ulaw: bytes) -> bytes:
    """What a server that labels μ-law and sends PCM16 at 24 kHz puts on the wire."""
    pcm = np.frombuffer(g711.decode(ulaw), dtype="<i2")
    return np.repeat(pcm, 3).astype("<i2").tobytes()


NOISE = {
    "pcm16_24k": _pcm16_24k_as_ulaw(load_clip("bot_greeting")[:8000]),
    "pcm16_8k": g711.decode(load_clip("bot_answer")[4000:8000]),
    "white_noise": np.random.default_rng(7).integers(0, 256, 8000, dtype=np.uint8).tobytes(),
    "buzz": bytes([0x00, 0x80]) * 4000,
    "wav_file": b"RIFF\x24\x7d\x00\x00WAVEfmt " + g711.decode(load_clip("bot_answer")[:4000]),
}


def _deltas(audio: bytes, seed: int) -> list[bytes]:
    """Split like a server does: uneven deltas of 20 to 300 ms."""
    rng, out, i = random.Random(seed), [], 0
    while i < len(audio):
        size = rng.randrange(160, 2400)
        out.append(audio[i : i + size])
        i += size
    return out


def _run(guard: ReplyGuard, deltas: list[bytes]) -> tuple[bytes, list[Any]]:
    played, findings = bytearray(), []
    guard.start()
    for delta in deltas:
        verdict = guard.feed(delta)
        played += verdict.play
        findings += [verdict.finding] if verdict.finding else []
    verdict = guard.flush()
    return bytes(played + verdict.play), findings + ([verdict.finding] if verdict.finding else [])


@pytest.mark.parametrize("name", CLIP_NAMES)
def test_shipped_speech_is_played_whole_and_unchanged(name: str) -> None:
    clip = load_clip(name)
    played, findings = _run(ReplyGuard(), _deltas(clip, seed=len(clip)))
    assert findings == [] and played == clip


def test_three_minutes_of_varied_synthetic_speech_raise_no_alarm() -> None:
    speech = SPEECH_SET.read_bytes()
    assert len(speech) > 170 * 8000
    guard = ReplyGuard()
    for start in range(0, len(speech), 4 * 8000):  # 4 s "replies", each split unevenly
        reply = speech[start : start + 4 * 8000]
        played, findings = _run(guard, _deltas(reply, seed=start))
        assert findings == [], f"false alarm at {start / 8000:.1f} s: {findings}"
        assert played == reply


@pytest.mark.parametrize("name", sorted(NOISE))
def test_noise_from_the_first_byte_is_never_played(name: str) -> None:
    played, findings = _run(ReplyGuard(), _deltas(NOISE[name], seed=1))
    assert played == b""
    assert len(findings) == 1
    expected = {"wav_file": "container_header", "white_noise": "white_noise"}.get(name)
    assert expected is None or findings[0].reason == expected
    assert findings[0].likely_cause


def test_noise_after_speech_is_cut_within_the_confirm_windows() -> None:
    speech, noise = load_clip("bot_greeting")[:8000], NOISE["pcm16_24k"]
    guard = ReplyGuard(hold_bytes=320, window_bytes=320, confirm=2)
    played, findings = _run(
        guard,
        [speech[i : i + 160] for i in range(0, 8000, 160)]
        + [noise[i : i + 160] for i in range(0, 8000, 160)],
    )
    assert [f.reason for f in findings] in (["pcm16_as_ulaw"], ["full_scale"])
    assert played.startswith(speech)
    # the noise starts on a window boundary: its first window plays (one noisy window is not enough),
    # the second is stopped as it completes: 320 + 160 bytes of 20 ms deltas reach the caller
    assert len(played) - len(speech) == 320 + 160


def test_dropped_counts_every_byte_not_played() -> None:
    guard = ReplyGuard(hold_bytes=320)
    noise = NOISE["white_noise"]
    assert guard.feed(noise[:200]).dropped == 0  # held, not yet decided
    verdict = guard.feed(noise[200:400])
    assert verdict.play == b"" and verdict.dropped == 400
    assert guard.feed(noise[400:500]).dropped == 100


def test_a_reply_shorter_than_the_hold_is_released_at_its_end() -> None:
    short = load_clip("bot_answer")[1000:1200]
    guard = ReplyGuard(hold_bytes=320)
    assert guard.feed(short).play == b""
    assert guard.flush().play == short
    assert guard.flush().play == b""  # released once


def test_without_hold_audio_passes_at_once_and_a_file_header_is_still_caught() -> None:
    guard = ReplyGuard(hold_bytes=0)
    clip = load_clip("bot_answer")
    assert guard.feed(clip[:160]).play == clip[:160]
    guard.start()
    verdict = guard.feed(NOISE["wav_file"][:400])
    assert verdict.play == b"" and verdict.finding is not None
    assert verdict.finding.reason == "container_header"
    assert guard.feed(clip[:160]).play == b""  # blocked until the next item
    guard.start()
    assert guard.feed(clip[:160]).play == clip[:160]


@pytest.mark.parametrize("kwargs", [{"hold_bytes": -1}, {"window_bytes": 63}, {"confirm": 0}])
def test_bad_sizes_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="need hold_bytes >= 0"):
        ReplyGuard(**kwargs)


# ----------------------------------------------------------------------------- voices


def test_realtime_voices_come_from_the_sdk() -> None:
    voices = realtime_voices()
    assert "marin" in voices and "cedar" in voices
    assert not {"fable", "onyx", "nova"} & set(voices)


@pytest.mark.parametrize("voice", ["fable", "onyx", "nova"])
def test_text_to_speech_voices_fail_at_construction_naming_the_allowed_ones(voice: str) -> None:
    settings = OpenAIRealtimeMuLawLLMService.Settings(
        session_properties=events.SessionProperties(
            audio=events.AudioConfiguration(output=events.AudioOutput(voice=voice))
        )
    )
    with pytest.raises(ValueError, match=rf"'{voice}' is a text-to-speech voice.*marin"):
        OpenAIRealtimeMuLawLLMService(api_key="sk-test", settings=settings)


def test_unknown_and_custom_voices() -> None:
    with pytest.raises(ValueError, match="'robot' is not a Realtime voice"):
        check_voice("robot")
    check_voice("voice_1234")
    check_voice("marin")


def test_a_bad_voice_in_a_later_update_is_not_sent(logs: list[str]) -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test")
    props = events.SessionProperties(audio=events.AudioConfiguration(output=events.AudioOutput(voice="nova")))
    pinned = service._pinned(props)
    assert pinned.audio is not None and pinned.audio.output is not None
    assert pinned.audio.output.voice is None
    assert any("not sending the voice" in line and "'nova'" in line for line in logs)


# ----------------------------------------------------------------------------- in the service


class _Recorder:
    def __init__(self, service: OpenAIRealtimeMuLawLLMService) -> None:
        self.frames: list[tuple[Frame, FrameDirection]] = []
        self.sent: list[events.ClientEvent] = []

        async def push(frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM) -> None:
            self.frames.append((frame, direction))

        async def send(event: events.ClientEvent) -> None:
            self.sent.append(event)

        service.push_frame = push  # type: ignore[method-assign]
        service.send_client_event = send  # type: ignore[method-assign]

    def audio(self) -> bytes:
        return b"".join(g711.encode(f.audio) for f, _ in self.frames if isinstance(f, TTSAudioRawFrame))


def _delta(item: str, ulaw: bytes, response: str = "resp_1") -> Any:
    return events.ResponseAudioDelta(
        type="response.output_audio.delta",
        event_id="evt",
        response_id=response,
        item_id=item,
        output_index=0,
        content_index=0,
        delta=base64.b64encode(ulaw).decode(),
    )


async def test_the_service_plays_speech_unchanged_and_blocks_noise_with_one_error(logs: list[str]) -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test")
    service._format_confirmed = True
    recorder = _Recorder(service)
    speech = load_clip("bot_answer")[:3200].replace(b"\x7f", b"\xff")
    for i in range(0, len(speech), 400):
        await service._handle_evt_audio_delta(_delta("item_speech", speech[i : i + 400]))
    assert recorder.audio() == speech
    service._current_audio_response = None  # the reply ended
    recorder.frames.clear()
    noise = NOISE["pcm16_24k"]
    for i in range(0, 4000, 200):  # the 40 ms hold spans two deltas
        await service._handle_evt_audio_delta(_delta("item_noise", noise[i : i + 200]))
    assert recorder.audio() == b""  # the caller hears none of it
    assert service.stats.blocked_replies == 1
    assert service.stats.guard_dropped_bytes == 4000
    assert [type(e).__name__ for e in recorder.sent] == [
        "ResponseCancelEvent",
        "ConversationItemTruncateEvent",
    ]
    assert any(isinstance(f, TTSStoppedFrame) for f, _ in recorder.frames)
    errors = [line for line in logs if "NOISE GUARD" in line]
    assert len(errors) == 1 and "'item_noise'" in errors[0] and "PCM16" in errors[0]


async def test_three_noisy_replies_end_the_call() -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test")
    service._format_confirmed = True
    recorder = _Recorder(service)
    for n in range(3):
        service._current_audio_response = None
        await service._handle_evt_audio_delta(_delta(f"item_{n}", NOISE["white_noise"][:800], f"resp_{n}"))
    ends = [f for f, d in recorder.frames if isinstance(f, EndWorkerFrame) and d is FrameDirection.UPSTREAM]
    assert len(ends) == 1 and service.stats.blocked_replies == 3


async def test_without_the_guard_nothing_is_held() -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test", reply_guard=False)
    service._format_confirmed = True
    recorder = _Recorder(service)
    await service._handle_evt_audio_delta(_delta("item", NOISE["white_noise"][:160]))
    assert len(recorder.audio()) == 160
