"""``CallRecorder`` fed literal wire events on a fake clock: placement, cuts, mark pins, bounded memory."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from pipecat_twilio_realtime import g711
from pipecat_twilio_realtime.observe.recording import CallRecorder, safe_file_stem

FRAME = 160
SILENT = b"\xff" * FRAME


def tone(n: int, code: int = 0x20) -> bytes:
    """``n`` μ-law bytes of one loud code (decodes to a non-zero sample)."""
    return bytes([code]) * n


class Call:
    """Drives a recorder like a Twilio stream: a caller frame every 20 ms, bot events in between."""

    def __init__(self, recorder: CallRecorder) -> None:
        self.rec = recorder
        self.t = 0.0
        self.frames = 0

    def frames_for(self, count: int, ulaw: bytes = SILENT) -> None:
        for _ in range(count):
            self.t = self.frames * 0.02
            self.rec.inbound_media(ulaw, self.t + 0.0003)  # 0.3 ms on the way
            self.frames += 1

    def at(self, offset_s: float) -> float:
        """A time ``offset_s`` after the latest caller frame left."""
        return self.t + offset_s


def read_stereo(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).reshape(-1, 2)
    return samples[:, 0], samples[:, 1]


def pcm(ulaw: bytes) -> np.ndarray:
    return np.frombuffer(g711.decode(ulaw), dtype=np.int16)


def test_a_chunk_plays_from_the_next_frame_and_silence_fills_the_rest(tmp_path: Path) -> None:
    rec = CallRecorder(audio_path=tmp_path / "r.wav")
    call = Call(rec)
    call.frames_for(10)  # frames 0..9 received: the caller is at frame 10 next
    reply = tone(800)
    rec.outbound_media(reply, call.at(0.005))
    call.frames_for(20)
    info = rec.finalize(call.at(0.01), "MZ1")
    left, right = read_stereo(tmp_path / "r.wav")
    assert len(right) == 30 * FRAME == info.samples
    expected = np.zeros(30 * FRAME, dtype=np.int16)
    expected[10 * FRAME : 10 * FRAME + 800] = pcm(reply)
    assert np.array_equal(right, expected)
    assert not left.any()
    assert info.heard == [[0.2, 0.3]] and info.heard_bytes == 800 and info.flushed_bytes == 0


def test_caller_channel_is_every_inbound_byte_in_order(tmp_path: Path) -> None:
    rec = CallRecorder(audio_path=tmp_path / "r.wav")
    call = Call(rec)
    spoken = bytes(range(256)) * 5  # every μ-law code
    for i in range(0, len(spoken), FRAME):
        call.frames_for(1, spoken[i : i + FRAME])
    rec.finalize(call.at(0.01))
    left, _ = read_stereo(tmp_path / "r.wav")
    assert np.array_equal(left, pcm(spoken))


def test_clear_cuts_at_the_frame_the_caller_is_at(tmp_path: Path) -> None:
    rec = CallRecorder(audio_path=tmp_path / "r.wav")
    call = Call(rec)
    call.frames_for(5)
    reply = bytes((i % 100) + 1 for i in range(4000))  # 500 ms, all sent at once (a lead)
    rec.outbound_media(reply, call.at(0.001))  # plays from frame 5
    call.frames_for(7)  # frames 5..11: the caller has played 7 frames
    rec.clear_sent(call.at(0.004))
    call.frames_for(10)
    info = rec.finalize(call.at(0.01))
    _, right = read_stereo(tmp_path / "r.wav")
    expected = np.zeros(22 * FRAME, dtype=np.int16)
    expected[5 * FRAME : 12 * FRAME] = pcm(reply[: 7 * FRAME])
    assert np.array_equal(right, expected)
    assert info.flushed_bytes == 4000 - 7 * FRAME
    assert info.clears == [[0.24, (4000 - 7 * FRAME) / 8]]


def test_a_clear_in_flight_across_a_frame_boundary_lands_after_it(tmp_path: Path) -> None:
    """Sent 0.5 ms before the next frame, the clear reaches the caller after that frame started."""
    rec = CallRecorder(audio_path=tmp_path / "r.wav", link_delay_s=0.001)
    call = Call(rec)
    call.frames_for(5)
    rec.outbound_media(tone(4000), call.at(0.001))
    call.frames_for(3)  # frames 5, 6, 7 played
    rec.clear_sent(call.at(0.0195))  # frame 8 starts before the clear arrives
    info = rec.finalize(call.at(0.02))
    assert info.heard_bytes == 4 * FRAME


def test_audio_after_the_buffer_ran_dry_is_a_gap_and_starts_on_a_frame(tmp_path: Path) -> None:
    events: list[tuple[str, float, dict[str, object]]] = []
    rec = CallRecorder(audio_path=tmp_path / "r.wav", on_event=lambda k, t, **f: events.append((k, t, f)))
    call = Call(rec)
    call.frames_for(2)
    rec.outbound_media(tone(FRAME * 2), call.at(0.001))  # frames 2-3
    call.frames_for(5)  # ran dry at frame 4; now at frame 7
    rec.outbound_media(tone(FRAME), call.at(0.001))
    call.frames_for(3)
    info = rec.finalize(call.at(0.01))
    _, right = read_stereo(tmp_path / "r.wav")
    assert np.nonzero(right)[0][[0, -1]].tolist() == [2 * FRAME, 8 * FRAME - 1]
    assert not right[4 * FRAME : 7 * FRAME].any()
    assert info.gaps == [[0.08, 60.0]] and [e[0] for e in events] == ["gap"]


def test_a_played_mark_echo_moves_a_reply_to_where_it_played(tmp_path: Path) -> None:
    """The chunk took longer than estimated to reach the caller: it played one frame later than placed."""
    rec = CallRecorder(audio_path=tmp_path / "r.wav")
    call = Call(rec)
    call.frames_for(5)
    rec.outbound_media(tone(1600), call.at(0.018))  # placed at frame 5 (it really started at 6)
    rec.mark_sent("m1", 1600, call.at(0.018))
    call.frames_for(11)  # frames 5..15; the echo comes with frame 16: its audio ended in frame 15
    rec.mark_echoed("m1", 1600, True, call.at(0.0201))
    call.frames_for(4)
    info = rec.finalize(call.at(0.01))
    _, right = read_stereo(tmp_path / "r.wav")
    assert info.corrections == 1
    assert np.nonzero(right)[0][[0, -1]].tolist() == [6 * FRAME, 16 * FRAME - 1]


def test_an_echo_that_agrees_moves_nothing(tmp_path: Path) -> None:
    rec = CallRecorder(audio_path=tmp_path / "r.wav")
    call = Call(rec)
    call.frames_for(5)
    rec.outbound_media(tone(1600), call.at(0.001))
    rec.mark_sent("m1", 1600, call.at(0.001))
    call.frames_for(10)
    rec.mark_echoed("m1", 1600, True, call.at(0.02))  # frames 5..14 played; echoed with frame 15
    call.frames_for(2)
    info = rec.finalize(call.at(0.01))
    _, right = read_stereo(tmp_path / "r.wav")
    assert info.corrections == 0
    assert np.nonzero(right)[0][[0, -1]].tolist() == [5 * FRAME, 15 * FRAME - 1]


def test_memory_stays_bounded_on_a_long_call(tmp_path: Path) -> None:
    rec = CallRecorder(audio_path=tmp_path / "r.wav", hold_s=1.0)
    call = Call(rec)
    peak = 0
    for second in range(120):
        rec.outbound_media(tone(4000), call.at(0.001))  # half of each second is bot audio
        call.frames_for(50)
        peak = max(peak, rec.buffered_bytes)
        assert second < 2 or rec.written_samples >= (second - 1) * 8000
    info = rec.finalize(call.at(0.01))
    assert peak <= 2 * 8000 + 4000  # one second held on each channel, plus the unplayed reply
    assert info.samples == 120 * 8000 and info.heard_bytes == 120 * 4000
    assert (tmp_path / "r.wav").stat().st_size == 44 + 120 * 8000 * 4


def test_after_stop_nothing_more_is_heard(tmp_path: Path) -> None:
    rec = CallRecorder(audio_path=tmp_path / "r.wav")
    call = Call(rec)
    call.frames_for(5)
    rec.outbound_media(tone(4000), call.at(0.001))
    call.frames_for(5)
    rec.stream_stopped(call.at(0.001))
    rec.outbound_media(tone(800), call.at(0.002))
    info = rec.finalize(call.at(0.5))
    assert info.heard_bytes == 5 * FRAME and info.flushed_bytes == 4000 - 5 * FRAME + 800
    assert info.samples == 10 * FRAME


def test_without_a_path_only_the_placement_is_kept() -> None:
    rec = CallRecorder()
    call = Call(rec)
    call.frames_for(3)
    rec.outbound_media(tone(320), call.at(0.001))
    call.frames_for(3)
    info = rec.finalize(call.at(0.01))
    assert info.path is None and info.heard == [[0.06, 0.1]] and len(info.levels["bot"]) == 2


@pytest.mark.parametrize(
    ("sid", "stem"),
    [
        ("MZ0123abc", "MZ0123abc"),
        ("../../etc/passwd", "call-etcpasswd"),
        ("", "call"),
        ("a/" * 40, "call-" + "a" * 32),
    ],
)
def test_a_stream_sid_from_the_wire_never_leaves_the_directory(sid: str, stem: str) -> None:
    assert safe_file_stem(sid) == stem
