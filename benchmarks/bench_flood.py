"""Flood vs neighbour: one normal call alone, then beside a media flood (``bench_soak.py`` section 2).

Run through ``python benchmarks/bench_soak.py --no-soak [--flood-rate 4000]``; this module holds the flood
and the neighbour call, on the soak's bot process and helpers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench_soak import (
    ACCOUNT,
    BINDING_PARAMETER,
    HOST,
    QUESTION,
    SILENT_PAYLOAD,
    Bot,
    SoakStandIn,
    _media,
    _signature,
    bot_process,
    fake_rest,
    open_stream,
    webhook,
)
from websockets.exceptions import ConnectionClosed

from pipecat_twilio_realtime.testing import (
    RealtimeStandIn,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    WaitForBotSilence,
    serve_app,
)


@dataclass
class NeighbourRun:
    """The normal call's view of one run."""

    label: str
    latencies_ms: list[float]
    gap_count: int
    gap_ms: float
    bot_cpu_s: float
    flood_sent: int = 0
    appended_s: float = 0.0  # caller audio that reached OpenAI, seconds (both calls)
    call_s: float = 0.0  # how long the normal call (and the flood beside it) lasted
    heard_s: float = 0.0  # bot speech the normal call's caller heard
    ended: str = ""  # who ended the normal call


async def flood(bot: Bot, rate: int, stop: asyncio.Event) -> int:
    """A bound stream sending ``rate`` media/s (of 20 ms each) until ``stop``; how many it sent."""
    call_sid = f"CA{'f' * 32}"
    ws = await open_stream(bot, call_sid, await webhook(bot, call_sid))
    sent, began = 0, time.monotonic()
    try:
        while not stop.is_set():
            due = int((time.monotonic() - began) * rate)
            while sent < due:
                await ws.send(_media("MZ" + call_sid[2:], sent, SILENT_PAYLOAD))
                sent += 1
            await asyncio.sleep(0.005)
    except ConnectionClosed:
        pass
    # hang up by dropping the connection: a close handshake would wait (10 s) behind the bot's backlog
    ws.transport.abort()
    await ws.close()
    return sent


async def neighbour_run(bot: Bot, standin: RealtimeStandIn, label: str, rate: int) -> NeighbourRun:
    """The normal call (greeting, two questions, each reply to its end), beside a flood when ``rate``."""
    call_sid = f"CA{'e' * 32}"
    token = await webhook(bot, call_sid)
    heard = [WaitForBotAudio(after_s=0.2, timeout_s=8.0), WaitForBotSilence(0.4)]  # a reply, to its end
    caller = SimulatedTwilioCaller(
        bot.ws_url,
        [*heard, Speech(QUESTION), *heard, Speech(QUESTION), *heard],
        custom_parameters={BINDING_PARAMETER: token or ""},
        headers=_signature(f"wss://{HOST}/ws"),
        call_sid=call_sid,
        account_sid=ACCOUNT,
        linger_s=0.0,
    )
    appended0, cpu0 = len(standin.appended_audio), bot.cpu_seconds()
    stop = asyncio.Event()
    flooder = asyncio.create_task(flood(bot, rate, stop)) if rate else None
    began = time.monotonic()
    report = await caller.run()
    call_s = time.monotonic() - began
    stop.set()
    sent = await flooder if flooder else 0
    await asyncio.sleep(0.3)
    return NeighbourRun(
        label,
        [s * 1000 for s in report.reply_latencies_s],
        report.gap_count,
        report.gap_ms,
        bot.cpu_seconds() - cpu0,
        sent,
        (len(standin.appended_audio) - appended0) / 8000,
        call_s,
        report.bot_speech_s,
        "the bot" if report.bot_closed_first else "caller",
    )


async def flood_vs_neighbour(
    rate: int, *, uncut: bool = True, reply_clip: str | None = None
) -> list[NeighbourRun]:
    """The quiet run, the flood run, and (``uncut``) the flood run without the 2x cut.

    ``reply_clip``: the stand-in speaks this clip for the greeting and both answers, in every run, instead
    of its greeting and answer clips (4.2 s each); a shorter one (``"caller_interrupt"``, 2.2 s) makes each
    call ~6 s shorter (and the flood beside it), for the tests. ``None`` (the full run): the usual clips.
    """
    runs = []
    posts: list[str] = []
    clips = {} if reply_clip is None else {"greeting": False, "reply_clips": (reply_clip,)}
    async with SoakStandIn(speed=4.0, **clips) as standin, serve_app(fake_rest(posts)) as rest_port:
        url = f"http://127.0.0.1:{rest_port}"
        # the default inactivity bound (10 s): a starved neighbour shows as latency and gaps, not a hang-up
        async with bot_process(standin.url, url, 4, inactivity_s=10.0) as bot:
            runs.append(await neighbour_run(bot, standin, "quiet", 0))
            runs.append(await neighbour_run(bot, standin, f"flood {rate}/s, 2x cut on", rate))
        if uncut:
            async with bot_process(standin.url, url, 4, no_rate_cut=True, inactivity_s=10.0) as bot:
                runs.append(await neighbour_run(bot, standin, f"flood {rate}/s, cut OFF", rate))
    return runs


def print_flood(runs: list[NeighbourRun]) -> None:
    print(
        f"   {'run':<26} {'reply latency ms':>18} {'gaps':>5} {'gap ms':>7} {'bot CPU s':>9} "
        f"{'flood sent':>10} {'audio to OpenAI s':>17} {'call s':>6} {'heard s':>7} {'ended by':>8}"
    )
    for r in runs:
        latencies = " ".join(f"{ms:.0f}" for ms in r.latencies_ms)
        print(
            f"   {r.label:<26} {latencies:>18} {r.gap_count:>5} {r.gap_ms:>7.0f} {r.bot_cpu_s:>9.2f} "
            f"{r.flood_sent:>10} {r.appended_s:>17.1f} {r.call_s:>6.1f} {r.heard_s:>7.1f} {r.ended:>8}"
        )
