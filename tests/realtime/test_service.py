"""OpenAIRealtimeMuLawLLMService over real websockets: μ-law pinned both ways, bytes exact, barge-in."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from pipecat.frames.frames import Frame, InputAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.openai.realtime import events

from pipecat_twilio_realtime import OpenAIRealtimeMuLawLLMService, PlaybackTracker, TwilioMarkEchoFrame, g711
from pipecat_twilio_realtime.testing import (
    RealtimeStandIn,
    Silence,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    WaitForBotSilence,
    load_clip,
)

from .._bot_helpers import BotCall, bot_app
from .._twilio_helpers import serve
from ._helpers import FAST, QUIET, apology_on_the_wire


def chunks_in_order(received: bytes, produced: bytes, size: int = 160) -> bool:
    """Whether each chunk of ``received`` is found in ``produced``, in order (flushed audio is skipped)."""
    position = 0
    for i in range(0, len(received), size):
        found = produced.find(received[i : i + size], position)
        if found < 0:
            return False
        position = found + len(received[i : i + size])
    return True


def expected_on_the_wire(standin: RealtimeStandIn) -> bytes:
    """The stand-in's reply audio as Twilio must receive it: byte for byte (0x7F aside), each reply's last
    partial 20 ms chunk padded by Pipecat's output transport with PCM silence (μ-law 0xFF)."""
    replies: dict[str, bytes] = {}
    for event in standin.sent:
        if event["type"] == "response.output_audio.delta":
            replies[event["item_id"]] = replies.get(event["item_id"], b"") + base64.b64decode(event["delta"])
    wire = b"".join(audio + b"\xff" * (-len(audio) % 160) for audio in replies.values())
    return wire.replace(b"\x7f", b"\xff")


async def call(
    standin: RealtimeStandIn, script: list[Any], *, speed: float = 1.0, **app_kwargs: Any
) -> tuple[Any, BotCall]:
    """One call through the bot; ``speed`` > 1 runs bot and caller on that scaled time (see FAST)."""
    calls: list[BotCall] = []
    async with serve(bot_app(standin.url, calls, speed=speed, **app_kwargs)) as port:
        caller = SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script, speed=speed)
        report = await asyncio.wait_for(caller.run(), 60)
    return report, calls[0]


# ----------------------------------------------------------------------------- a plain turn


async def test_plain_turn_is_mulaw_both_ways_and_bit_exact() -> None:
    question = load_clip("caller_question")
    async with RealtimeStandIn(speed=8.0 * FAST) as standin:
        report, bot = await call(
            standin,
            [
                WaitForBotAudio(after_s=0.2),
                QUIET,
                Speech(question),
                Silence(1.0),
                # the whole answer, then quiet (it is 4.2 s long: waiting for 4.5 s of it only timed out)
                WaitForBotAudio(after_s=0.2, timeout_s=15.0 * FAST),
                QUIET,
            ],
            speed=FAST,
        )
    updates = [e for e in standin.received if e["type"] == "session.update"]
    assert updates, "no session.update was sent"
    for update in updates:
        audio = update["session"]["audio"]
        assert audio["input"]["format"] == {"type": "audio/pcmu"}
        assert audio["output"]["format"] == {"type": "audio/pcmu"}
    assert standin.errors == [], standin.errors  # strict validation with the openai SDK models passed
    # caller → OpenAI: every byte the caller sent reached the server unchanged (0x7F aside)
    assert bot.service.stats.appended_bytes == report.ulaw_bytes_sent == len(standin.appended_audio)
    assert question.replace(b"\x7f", b"\xff") in standin.appended_audio
    # OpenAI → caller: the reply bytes reached Twilio identical (0x7F aside), nothing resampled
    assert report.violations == []
    assert bytes(report.received_audio) == expected_on_the_wire(standin)
    assert len(standin.reply_audio) > 8000
    assert bot.serializer.stats.ulaw_bytes_sent == len(report.received_audio)
    assert report.marks_played and not report.marks_flushed


async def test_session_updates_stay_pinned_after_a_settings_update() -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test")
    sent: list[dict[str, Any]] = []

    async def record(message: dict[str, Any]) -> None:  # the websocket itself is covered end to end above
        sent.append(message)

    service._ws_send = record  # type: ignore[method-assign]
    # a settings update replaces the session properties wholesale: the formats are gone from them
    service._settings.apply_update(
        OpenAIRealtimeMuLawLLMService.Settings(
            session_properties=events.SessionProperties(instructions="Be brief.")
        )
    )
    assert service._settings.session_properties.audio is None
    await service._send_session_update()
    update = sent[0]
    assert update["type"] == "session.update"
    assert update["session"]["instructions"] == "Be brief."
    assert update["session"]["audio"]["input"]["format"]["type"] == "audio/pcmu"
    assert update["session"]["audio"]["output"]["format"]["type"] == "audio/pcmu"
    assert update["session"]["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 500


# ----------------------------------------------------------------------------- barge-in


async def test_barge_in_clears_twilio_and_truncates_at_what_was_heard() -> None:
    # Real time: it measures the truncation against what was heard within 20 ms.
    async with RealtimeStandIn(speed=8.0) as standin:
        report, bot = await call(
            standin,
            [WaitForBotAudio(after_s=1.2), Speech(load_clip("caller_interrupt"), "barge-in"), Silence(1.5)],
        )
    assert report.violations == []
    assert report.clears >= 1 and report.barge_in_latencies_s
    truncates = [e for e in standin.received if e["type"] == "conversation.item.truncate"]
    assert len(truncates) == 1, [e["type"] for e in standin.received]
    audio_end_ms = truncates[0]["audio_end_ms"]
    ((item_id, truncated_at, produced_ms),) = bot.service.stats.truncations
    assert (item_id, truncated_at) == (truncates[0]["item_id"], audio_end_ms)
    produced_bytes = sum(
        len(base64.b64decode(e["delta"]))
        for e in standin.sent
        if e["type"] == "response.output_audio.delta" and e["item_id"] == item_id
    )
    assert produced_ms == produced_bytes // 8
    assert 0 < audio_end_ms < produced_ms
    heard_ms_at_clear = report.heard_at_clears[0] / 8
    # the latest echo plus the time since (bench_marks.py: ~20 ms off); slack for a loaded test machine
    assert heard_ms_at_clear - 160 <= audio_end_ms <= heard_ms_at_clear + 20, (
        audio_end_ms,
        heard_ms_at_clear,
    )
    assert not any(e.get("type") == "error" for e in standin.sent)  # the server accepted the truncate
    assert bot.service.stats.barge_ins == 1
    assert chunks_in_order(bytes(report.received_audio), standin.reply_audio.replace(b"\x7f", b"\xff"))


def test_playback_tracker_counts_played_marks_only() -> None:
    tracker = PlaybackTracker(clock=lambda: 0.0)

    def echo(label: str, sent: int, played: bool = True) -> TwilioMarkEchoFrame:
        return TwilioMarkEchoFrame(mark_name=label, label=label, ulaw_bytes_sent=sent, played=played)

    assert tracker.on_echo(echo(PlaybackTracker.start_label("item_1"), 4000))
    tracker.on_echo(echo(PlaybackTracker.progress_label("item_1", 800), 4800))
    tracker.on_echo(echo(PlaybackTracker.progress_label("item_1", 1600), 5600, played=False))
    assert tracker.heard_bytes("item_1") == 800
    assert not tracker.on_echo(echo("someone-else", 1))
    assert tracker.heard_bytes("item_2") == 0


# ----------------------------------------------------------------------------- broken servers, bad config


async def test_server_confirming_pcm_is_caught_and_the_call_ended(logs: list[str]) -> None:
    async with RealtimeStandIn(reply_format_override="audio/pcm") as standin:
        report, bot = await call(standin, [Silence(12.0 * FAST)], speed=FAST)
    # not a byte of reply audio reached the caller: only the apology, then Pipecat's end-of-call silence
    received = bytes(report.received_audio)
    assert received.startswith(apology_on_the_wire()) and set(received[len(apology_on_the_wire()) :]) <= {
        0xFF
    }
    assert report.bot_closed_first
    assert bot.service.stats.format_mismatches >= 1 and not bot.service.format_confirmed
    assert any(
        "confirmed output=audio/pcm instead of audio/pcmu" in line and "ERROR" in line for line in logs
    )


async def test_audio_before_the_session_is_confirmed_is_held_not_lost() -> None:
    async with RealtimeStandIn(session_confirm_delay=0.6, greeting=False) as standin:
        report, bot = await call(standin, [Silence(1.5)], greet=False)
    assert bot.service.stats.held_before_session_bytes > 0
    assert bot.service.stats.dropped_input_bytes == 0
    assert len(standin.appended_audio) == report.ulaw_bytes_sent


@pytest.mark.parametrize("fmt", [events.PCMAudioFormat(), events.PCMAAudioFormat()])
def test_other_formats_are_refused_at_construction(fmt: events.AudioFormat) -> None:
    settings = OpenAIRealtimeMuLawLLMService.Settings(
        session_properties=events.SessionProperties(
            audio=events.AudioConfiguration(output=events.AudioOutput(format=fmt))
        )
    )
    with pytest.raises(ValueError, match=f"output={fmt.type}"):
        OpenAIRealtimeMuLawLLMService(api_key="sk-test", settings=settings)


async def test_wrong_rate_input_is_dropped_with_the_fix_named(logs: list[str]) -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test")
    await service._send_user_audio(InputAudioRawFrame(audio=b"\x00" * 640, sample_rate=16000, num_channels=1))
    assert service.stats.wrong_rate_frames == 1 and service.stats.appended_bytes == 0
    assert service.stats.held_before_session_bytes == 0
    assert any("16000 Hz" in line and "audio_in_sample_rate=8000" in line for line in logs)


def test_extreme_turn_detection_is_warned(logs: list[str]) -> None:
    settings = OpenAIRealtimeMuLawLLMService.Settings(
        session_properties=events.SessionProperties(
            audio=events.AudioConfiguration(
                input=events.AudioInput(
                    turn_detection=events.TurnDetection(threshold=0.97, silence_duration_ms=120)
                )
            )
        )
    )
    OpenAIRealtimeMuLawLLMService(api_key="sk-test", settings=settings)
    assert any("threshold 0.97" in line for line in logs)
    assert any("silence_duration_ms 120" in line for line in logs)


def test_mulaw_duration_is_bytes_over_eight() -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test")
    assert service._calculate_audio_duration_ms(8000) == 1000
    assert g711.SAMPLE_RATE == 8000


async def test_append_interval_batches_caller_frames_without_losing_bytes() -> None:
    sent: list[dict[str, Any]] = []

    async def record(message: dict[str, Any]) -> None:
        sent.append(message)

    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test", append_interval_ms=60)
    service._ws_send = record  # type: ignore[method-assign]
    service._format_confirmed = True
    caller = load_clip("caller_question")[: 160 * 7]
    for i in range(0, len(caller), 160):
        frame = InputAudioRawFrame(audio=g711.decode(caller[i : i + 160]), sample_rate=8000, num_channels=1)
        await service._send_user_audio(frame)
    payloads = [base64.b64decode(m["audio"]) for m in sent]
    assert [len(p) for p in payloads] == [480, 480]  # 3 frames each; the 7th waits for the next two
    assert b"".join(payloads) == caller[:960].replace(b"\x7f", b"\xff")
    with pytest.raises(ValueError, match="append_interval_ms"):
        OpenAIRealtimeMuLawLLMService(api_key="sk-test", append_interval_ms=0)


@pytest.mark.parametrize("misbehaviour", ["close_mid_reply", "error_after_session"])
async def test_a_lost_openai_session_ends_the_call_instead_of_silence(
    misbehaviour: str, logs: list[str]
) -> None:
    async with RealtimeStandIn(speed=2.0 * FAST, **{misbehaviour: True}) as standin:
        report, bot = await call(
            standin,
            [WaitForBotAudio(after_s=0.2, timeout_s=5 * FAST), Silence(12.0 * FAST)],
            service_kwargs={"reconnect_attempts": 0},  # reconnecting is covered in test_dead_air.py
            speed=FAST,
        )
    assert report.bot_closed_first  # the bot hung up; the caller was not left listening to silence
    assert bot.service.stats.realtime_lost == 1
    assert sum("lost the OpenAI Realtime session" in line for line in logs) == 1
    assert sum("Error sending client event" in line for line in logs) <= 1  # no error storm per append
    # what the caller heard: part of the reply (bytes exact), then the apology, then silence
    received = bytes(report.received_audio)
    apology = received.rfind(apology_on_the_wire())
    assert apology >= 0 and set(received[apology + len(apology_on_the_wire()) :]) <= {0xFF}
    assert chunks_in_order(
        received[:apology], standin.reply_audio.replace(b"\x7f", b"\xff") + b"\xff" * 32000
    )


async def test_a_rejected_truncate_does_not_end_the_session() -> None:
    service = OpenAIRealtimeMuLawLLMService(api_key="sk-test")
    error = events.parse_server_event(
        '{"type": "error", "event_id": "e1", "error": {"type": "invalid_request_error", '
        '"code": "invalid_value", "message": "audio_end_ms is beyond the audio", "param": "audio_end_ms"}}'
    )
    await service._handle_evt_error(error)
    assert service.stats.recovered_errors == 1 and service._recoverable_error
    assert service._fatal_error is None


async def test_the_session_time_limit_ends_the_call_cleanly(logs: list[str]) -> None:
    async with RealtimeStandIn(speed=2.0 * FAST, session_limit_s=1.0) as standin:  # 1 s of real time
        report, bot = await call(
            standin, [Silence(12.0 * FAST)], greet=False, service_kwargs={"reconnect_attempts": 0}, speed=FAST
        )
    assert report.bot_closed_first and bot.service.stats.realtime_lost == 1
    assert any("session_expired" in line and "lost the OpenAI Realtime session" in line for line in logs)


async def test_a_stop_mid_reply_ends_everything(logs: list[str]) -> None:
    async with RealtimeStandIn(speed=1.0) as standin:
        report, bot = await call(standin, [WaitForBotAudio(after_s=0.5)])
    assert not report.bot_closed_first  # the caller hung up first, while the bot was speaking
    assert len(report.heard) < len(load_clip("bot_greeting"))
    assert bot.service.stats.realtime_lost == 0  # an orderly end, not a lost session
    assert bot.service._websocket is None  # the OpenAI session was closed with the call
    assert any("Twilio stream" in line and "stopped" in line for line in logs)


# ----------------------------------------------------------------------------- what goes on past the service


class Recorder(FrameProcessor):
    """Sits at the end of the pipeline, where a call recorder would, and counts what reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.caller_pcm_bytes = 0
        self.mark_echoes = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self.caller_pcm_bytes += len(frame.audio)
        elif isinstance(frame, TwilioMarkEchoFrame):
            self.mark_echoes += 1
        await self.push_frame(frame, direction)


@pytest.mark.parametrize("passthrough", [None, True, False, "no recorder"])
async def test_caller_audio_goes_on_past_the_service_only_with_passthrough(passthrough: Any) -> None:
    recorders: list[Recorder] = []

    def tail() -> list[FrameProcessor]:
        recorders.append(Recorder())
        return [recorders[-1]]

    kwargs: dict[str, Any] = {"tail": tail}
    if passthrough == "no recorder":  # the default (None) with nothing after the service that reads audio
        kwargs = {}
    elif passthrough is not None:
        kwargs["service_kwargs"] = {"audio_passthrough": passthrough}
    # Real time: the caller talks over the greeting, and whether a greeting mark had played before the
    # clear (asserted below) depends on wire latency against play time, which a scaled call changes.
    async with RealtimeStandIn(speed=8.0) as standin:
        report, bot = await call(
            standin,
            [
                WaitForBotAudio(after_s=0.2),
                Speech(load_clip("caller_question")),
                Silence(1.0),
                # the answer plays, then the caller hangs up once it is over: waiting for 4 s of it
                # without a break ran into the 15 s timeout whenever a loaded machine made it underrun
                WaitForBotAudio(after_s=0.2),
                WaitForBotSilence(),
            ],
            **kwargs,
        )
    # the default decided from the processors after the service: the recorder wants caller audio
    assert bot.service.audio_passthrough is (passthrough in (None, True))
    if passthrough == "no recorder":
        assert bot.service.stats.appended_bytes == report.ulaw_bytes_sent
        return
    recorder = recorders[0]
    # OpenAI gets every caller byte either way
    assert bot.service.stats.appended_bytes == report.ulaw_bytes_sent == len(standin.appended_audio)
    assert report.ulaw_bytes_sent > 8000
    if passthrough is not False:  # a recorder after the output transport hears the whole caller side
        assert recorder.caller_pcm_bytes == 2 * report.ulaw_bytes_sent
    else:
        assert recorder.caller_pcm_bytes == 0
    # mark echoes end at the service, which used them to track playback
    first_item = next(e["item_id"] for e in standin.sent if e["type"] == "response.output_audio.delta")
    assert report.marks_played and bot.service.playback.heard_bytes(first_item) > 0
    assert recorder.mark_echoes == 0
