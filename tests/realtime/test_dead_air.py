"""Never dead air: a failed Realtime session ends in an apology and a hang-up/transfer, or reconnects.

Real sockets only: the Realtime stand-in (with its fault switches) on 127.0.0.1, the loopback bot app, a
simulated Twilio caller, and a loopback imitation of Twilio's REST API for the hang-up and the transfer.
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from pipecat_twilio_realtime.testing import (
    CallerReport,
    RealtimeStandIn,
    Silence,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    WaitForBotSilence,
    load_clip,
)
from pipecat_twilio_realtime.testing.realtime import Faults, refused_url

from .. import _twilio_helpers as tw
from .._bot_helpers import BotCall, bot_app
from .._twilio_helpers import fake_twilio_rest, sdk_client
from ._helpers import apology_on_the_wire

BOUND_S = 2.0  # session_ready_timeout_s in these tests (the default is 5 s)
SLACK_S = 1.0  # the pipeline's start, the stream's start, the first 20 ms chunk
SETTLE_S = 0.3  # how long a caller that hangs up early (``until``) listens on, so late audio is counted
TRANSFER_TO = "+15551234567"
GAPS: dict[str, list[float]] = {}  # measured dead air per fault, printed at the end (pytest -s)


@dataclass
class FaultyCall:
    report: CallerReport
    bot: BotCall
    posts: list[dict[str, Any]]
    started_at: float
    log: list[str] = field(default_factory=list)

    def longest_silence_s(self, after: str | None = None) -> float:
        """The longest stretch the caller heard nothing (see ``CallerReport.longest_silence_s``)."""
        return self.report.longest_silence_s(after)


def assert_apology_heard(received: bytes) -> None:
    """The apology arrived bit-exact, at the end of what the caller received (Pipecat's end silence aside)."""
    apology = apology_on_the_wire()
    at = received.rfind(apology)
    assert at >= 0, f"the apology is not in the {len(received)} bytes the caller received"
    assert set(received[at + len(apology) :]) <= {0xFF}, "something other than silence followed the apology"


async def faulty_call(
    url: str,
    script: list[Any],
    *,
    service_kwargs: dict[str, Any] | None = None,
    greet: bool = True,
    until: Callable[[CallerReport], bool] | None = None,
) -> FaultyCall:
    """Place a call against ``url`` running ``script``.

    With ``until``, the caller hangs up ``SETTLE_S`` after ``until(report)`` first holds (its report so
    far): the script is then only the upper bound.
    """
    posts: list[dict[str, Any]] = []
    calls: list[BotCall] = []
    kwargs = {"session_ready_timeout_s": BOUND_S, **(service_kwargs or {})}
    async with tw.serve(fake_twilio_rest(posts)) as rest_port:
        rest = {
            "call_sid": tw.CALL_SID,
            "account_sid": tw.ACCOUNT_SID,
            "twilio_client": sdk_client(rest_port),
        }
        app = bot_app(url, calls, greet=greet, service_kwargs=kwargs, serializer_kwargs=rest)
        async with tw.serve(app) as port:
            caller = SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script)
            started_at = time.monotonic()
            report = await asyncio.wait_for(_run(caller, until), 60)
            async with asyncio.timeout(5):  # the REST request leaves as the call ends
                while report.bot_closed_first and not posts:
                    await asyncio.sleep(0.02)
    return FaultyCall(report, calls[0], posts, started_at)


async def _run(caller: SimulatedTwilioCaller, until: Callable[[CallerReport], bool] | None) -> CallerReport:
    if until is None:
        return await caller.run()
    call = asyncio.create_task(caller.run())
    while not call.done() and not until(caller.report):
        await asyncio.sleep(0.02)
    await asyncio.wait({call}, timeout=SETTLE_S)
    caller.hang_up()
    return await call


def errors(logs: list[str]) -> list[str]:
    return [line for line in logs if "| ERROR" in line]


def record_gap(name: str, gap: float) -> None:
    GAPS.setdefault(name, []).append(gap)
    print(f"\n[dead air] {name}: {gap:.2f} s (median so far {statistics.median(GAPS[name]):.2f} s)")


# ----------------------------------------------------------------------------- a session that never starts


async def check_start_failure(call: FaultyCall, logs: list[str], cause: str, name: str) -> None:
    assert call.report.bot_closed_first, "the bot must end the call, not leave the caller waiting"
    assert_apology_heard(bytes(call.report.received_audio))
    gap = call.longest_silence_s()
    record_gap(name, gap)
    assert gap <= BOUND_S + SLACK_S
    [error] = errors(logs)
    assert cause in error and "apology" in error, error
    assert "sk-test-not-a-key" not in "".join(logs)
    assert [p["form"] for p in call.posts] == [{"Status": "completed"}]
    assert call.bot.service.stats.session_failure is not None


async def test_connection_refused_apologises_and_hangs_up(logs: list[str]) -> None:
    url = refused_url()
    call = await faulty_call(url, [Silence(15.0)])
    await check_start_failure(call, logs, f"could not reach {url}: connection refused", "refused")


async def test_a_rejected_api_key_is_named_and_the_call_transferred(logs: list[str]) -> None:
    async with RealtimeStandIn(faults=Faults(handshake_status=401)) as standin:
        call = await faulty_call(standin.url, [Silence(15.0)], service_kwargs={"transfer_to": TRANSFER_TO})
    assert call.report.bot_closed_first
    assert_apology_heard(bytes(call.report.received_audio))
    record_gap("http 401", call.longest_silence_s())
    assert call.longest_silence_s() <= BOUND_S + SLACK_S
    [error] = errors(logs)
    assert "OpenAI rejected the API key (HTTP 401)" in error and TRANSFER_TO in error
    assert [p["form"] for p in call.posts] == [{"Twiml": f"<Response><Dial>{TRANSFER_TO}</Dial></Response>"}]


async def test_a_handshake_that_never_completes_is_bounded(logs: list[str]) -> None:
    async with RealtimeStandIn(faults=Faults(hang_handshake=True)) as standin:
        call = await faulty_call(standin.url, [Silence(15.0)])
    await check_start_failure(call, logs, f"no websocket handshake within {BOUND_S:g} s", "handshake hangs")


async def test_a_session_never_confirmed_is_bounded(logs: list[str]) -> None:
    async with RealtimeStandIn(faults=Faults(never_confirm=True)) as standin:
        call = await faulty_call(standin.url, [Silence(15.0)])
    await check_start_failure(call, logs, f"no session.updated within {BOUND_S:g} s", "never confirms")
    assert not call.bot.service.format_confirmed


async def test_an_app_can_take_over_the_failure(logs: list[str]) -> None:
    reasons: list[str] = []

    async def failed(service: Any, reason: str) -> None:
        reasons.append(reason)

    calls: list[BotCall] = []
    app = bot_app(refused_url(), calls, service_kwargs={"end_call_on_failure": False})
    async with tw.serve(app) as port:
        caller = SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", [Silence(1.5)])
        task = asyncio.create_task(caller.run())
        async with asyncio.timeout(5):
            while not calls:
                await asyncio.sleep(0.01)
        calls[0].service.add_event_handler("on_session_failed", failed)
        report = await asyncio.wait_for(task, 20)
    assert not report.bot_closed_first and set(report.received_audio) <= {0xFF}  # the app chose: nothing
    assert reasons and "connection refused" in reasons[0]
    [error] = errors(logs)
    assert "end_call_on_failure=False" in error


# ----------------------------------------------------------------------------- a session lost mid-call


def assert_conversation_carried(standin: RealtimeStandIn, text: str) -> None:
    assert len(standin.sessions) >= 2, "no second session was opened"
    created = standin.sessions[1].received_of("conversation.item.create")
    assert created, [e["type"] for e in standin.sessions[1].received]
    assert any(text in str(event["item"]) for event in created), created


def _reply_audio(session: Any) -> bytes:
    """The μ-law a stand-in session sent as reply audio."""
    return b"".join(
        base64.b64decode(e["delta"]) for e in session.sent if e["type"] == "response.output_audio.delta"
    )


QUESTION = [
    WaitForBotAudio(after_s=0.2, timeout_s=5),
    WaitForBotSilence(),
    Speech(load_clip("caller_question")),
]


@pytest.mark.parametrize("fault", ["drop", "stall"])
async def test_a_session_lost_mid_reply_reconnects_and_the_reply_comes(fault: str, logs: list[str]) -> None:
    faults = Faults(close_mid_reply=2) if fault == "drop" else Faults(stall_s=30.0, stall_at_reply=2)
    service_kwargs = {"stall_timeout_s": 2.0}
    # the longest silence the reply may break off for; the caller listens at least that long before it
    # takes the bot to be done (with the default 0.6 s it could hang up before a stall was even detected)
    bound = 1.5 if fault == "drop" else service_kwargs["stall_timeout_s"] + 1.5
    async with RealtimeStandIn(speed=2.0, faults=faults) as standin:

        def second_reply_heard(report: CallerReport) -> bool:
            # the new session's reply is over and its last bytes have reached the caller: the gap, the
            # bytes and the events asserted below are all in (the script's last wait is the upper bound)
            if len(standin.sessions) < 2 or not standin.sessions[1].received_of("response.create"):
                return False
            if not any(e["type"] == "response.done" for e in standin.sessions[1].sent):
                return False
            tail = _reply_audio(standin.sessions[1])[-800:].replace(b"\x7f", b"\xff")
            return bool(tail) and tail in report.received_audio

        call = await faulty_call(
            standin.url,
            [*QUESTION, Silence(1.0), WaitForBotSilence(quiet_s=bound, timeout_s=15.0)],
            service_kwargs=service_kwargs,
            until=second_reply_heard,
        )
    stats = call.bot.service.stats
    assert stats.reconnects == 1 and stats.realtime_lost == 0 and stats.session_failure is None
    assert not call.report.bot_closed_first, "the call went on"
    assert_conversation_carried(standin, "Thanks for calling")  # the greeting, from the LLM context
    assert standin.sessions[1].received_of("response.create"), "the interrupted reply was asked for again"
    # after the reconnect the stand-in answered: its second session's reply reached the caller
    second = _reply_audio(standin.sessions[1])
    assert second and second[:1600].replace(b"\x7f", b"\xff") in bytes(call.report.received_audio)
    # the reply started, broke off, and came again from the new session: the silence in between
    gap = call.longest_silence_s(after="first bot audio after caller speech")
    record_gap(f"{fault} mid-reply: caller's gap", gap)
    assert gap <= bound
    assert errors(logs) == []
    if fault == "stall":
        assert stats.stalls == 1
        assert any("WARNING" in line and "stalled" in line for line in logs)
    record_gap(f"{fault} reconnect (ms to a confirmed session)", stats.reconnect_ms[0] / 1000)


async def test_the_session_time_limit_reconnects_quietly_and_the_call_goes_on(logs: list[str]) -> None:
    async with RealtimeStandIn(speed=8.0, faults=Faults(session_limit_s=6.0)) as standin:
        call = await faulty_call(
            standin.url,
            [
                WaitForBotSilence(),
                Silence(2.5),  # the first session expires in here, while nobody is talking
                Speech(load_clip("caller_question")),
                Silence(1.0),
                WaitForBotSilence(timeout_s=15.0),
            ],
        )
    stats = call.bot.service.stats
    assert stats.reconnects >= 1 and stats.session_failure is None and not call.report.bot_closed_first
    assert_conversation_carried(standin, "Thanks for calling")
    assert (
        not standin.sessions[1].received_of("response.create") or stats.reconnects > 1
    )  # idle: no re-answer
    answered = [e for e in standin.sessions[1].sent if e["type"] == "response.output_audio.delta"]
    assert answered, "the question was answered by the new session"
    assert errors(logs) == []
    assert any("session_expired" in line and "reconnecting" in line for line in logs)
    record_gap("expiry: caller's wait for the answer", call.report.reply_latencies_s[0])
    assert call.report.reply_latencies_s[0] <= 1.5


async def test_when_the_server_is_gone_the_reconnects_end_in_the_apology(logs: list[str]) -> None:
    standin = RealtimeStandIn(speed=2.0)
    await standin.start()
    url = standin.url
    try:
        task = asyncio.create_task(faulty_call(url, [WaitForBotAudio(after_s=0.5), Silence(15.0)]))
        await standin.wait_for("response.output_audio.delta", timeout=10)
    finally:
        await standin.stop()  # an outage: the socket closes, and reconnecting is refused
    call = await task
    assert call.report.bot_closed_first
    assert_apology_heard(bytes(call.report.received_audio))
    assert call.bot.service.stats.reconnects == 2
    [error] = errors(logs)
    assert "could not reconnect" in error and "connection refused" in error and "apology" in error
    assert [p["form"] for p in call.posts] == [{"Status": "completed"}]
    gap = call.longest_silence_s(after="start")
    record_gap("outage: longest silence", gap)
    assert gap <= SLACK_S


async def test_an_oversized_message_is_named_and_survived(logs: list[str]) -> None:
    faults = Faults(oversize_delta_bytes=2_000_000)  # 2 MB of μ-law: 2.67 MB of base64 in one message
    async with RealtimeStandIn(speed=8.0, faults=faults) as standin:
        call = await faulty_call(
            standin.url, [WaitForBotSilence(timeout_s=15.0)], service_kwargs={"max_message_bytes": 2**20}
        )
    assert any("a Realtime message over 1048576 bytes" in line and "WARNING" in line for line in logs)
    assert call.bot.service.stats.reconnects == 1 and errors(logs) == []
    assert standin.sessions[1].received_of("response.create")  # the greeting was asked for again


def test_a_transfer_number_is_escaped_in_the_twiml() -> None:
    from pipecat_twilio_realtime.twilio.serializer import TwilioCallUpdate

    assert (
        TwilioCallUpdate.transfer("+1 555 <x>&").twiml
        == "<Response><Dial>+1 555 &lt;x&gt;&amp;</Dial></Response>"
    )


def test_fault_bounds_are_checked_at_construction() -> None:
    from pipecat_twilio_realtime import OpenAIRealtimeMuLawLLMService

    with pytest.raises(ValueError, match="session_ready_timeout_s"):
        OpenAIRealtimeMuLawLLMService(api_key="sk-test", session_ready_timeout_s=0)
    with pytest.raises(ValueError, match="reconnect_attempts"):
        OpenAIRealtimeMuLawLLMService(api_key="sk-test", reconnect_attempts=-1)


# ----------------------------------------------------------------------------- the pure parts


def test_the_session_watch_names_what_is_overdue() -> None:
    from pipecat_twilio_realtime.realtime.watch import SessionWatch

    watch = SessionWatch(ready_timeout_s=5.0, stall_timeout_s=8.0)
    watch.opening(100.0)
    assert watch.overdue(104.9, 0.0, replying=False) is None
    assert watch.overdue(105.0, 0.0, replying=False) == ("ready", "no session.updated within 5 s")
    watch.confirmed()
    assert watch.overdue(200.0, 150.0, replying=False) is None  # quiet while nobody waits: fine
    assert watch.overdue(200.0, 193.0, replying=True) is None
    assert watch.overdue(200.0, 190.0, replying=True) == (
        "stall",
        "no server event for 10.0 s in the middle of a reply",
    )
    watch.caller_turn_ended(195.0)
    assert watch.overdue(202.0, 190.0, replying=False) is None  # the turn ended 7 s ago
    assert watch.overdue(203.0, 190.0, replying=False) is not None
    watch.reply_started()  # response.created, e.g. for a function call that takes its time
    assert watch.overdue(300.0, 190.0, replying=False) is None


def test_connect_failures_and_losses_are_named_for_a_person() -> None:
    from websockets.exceptions import ConnectionClosedError, InvalidStatus, PayloadTooBig
    from websockets.frames import Close
    from websockets.http11 import Response

    from pipecat_twilio_realtime.realtime.connection import connect_failure, loss_reason

    url = "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    where = "wss://api.openai.com/v1/realtime"

    def status(code: int) -> InvalidStatus:
        return InvalidStatus(Response(code, "x", __import__("websockets").datastructures.Headers(), b""))

    assert connect_failure(status(401), url, 5) == "OpenAI rejected the API key (HTTP 401)"
    assert "HTTP 429" in connect_failure(status(429), url, 5)
    assert connect_failure(ConnectionRefusedError(), url, 5) == f"could not reach {where}: connection refused"
    assert (
        connect_failure(TimeoutError(), url, 5)
        == f"could not reach {where}: no websocket handshake within 5 s"
    )
    assert connect_failure(OSError(-2, "Name or service not known"), url, 5).endswith(
        "Name or service not known"
    )
    too_big = "a Realtime message over 4194304 bytes (the websocket max_size)"
    assert loss_reason(ConnectionClosedError(None, Close(1009, "too big")), 4194304) == too_big
    assert loss_reason(PayloadTooBig(5_000_000, 4194304), 4194304) == too_big
    assert (
        loss_reason(ConnectionClosedError(Close(1011, "oops"), None), 1)
        == "the connection closed (code 1011)"
    )
    assert loss_reason(None, 1) == "the server closed the connection"
