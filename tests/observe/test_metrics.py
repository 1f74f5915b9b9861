"""``CallMetrics`` (issue 14): a summary's numbers in the Prometheus text format, and ``/metrics`` of the
example app scraped during and after a simulated call, ``/readyz`` at the call cap."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from pipecat_twilio_realtime.example import create_app, load_settings
from pipecat_twilio_realtime.observe.metrics import CALL_OUTCOMES, CallMetrics
from pipecat_twilio_realtime.testing import (
    RealtimeStandIn,
    SimulatedTwilioCaller,
    Speech,
    WaitForBotAudio,
    WaitForBotSilence,
    load_clip,
)

from .._twilio_helpers import serve

ROOT = Path(__file__).resolve().parents[2]
NS = "pipecat_twilio_"


def samples(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def rendered(metrics: CallMetrics) -> dict[str, float]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=")
    return samples(body.decode())


SUMMARY: dict[str, Any] = {
    "stream_sid": "MZ1",
    "rx_bytes": 16000,
    "tx_bytes": 24000,
    "barge_ins": 2,
    "barge_in_latency_ms": [180.0, 420.0],
    "first_reply_ms": [650.0],
    "noise": {"pcm_as_ulaw": 3},
    "duration_s": 12.5,
    "realtime": {"realtime_lost": 1, "reconnects": 2},
}


# ----------------------------------------------------------------------------- the class


def test_a_summary_becomes_counters_and_histograms() -> None:
    metrics = CallMetrics()
    metrics.call_started()
    metrics.record_summary(SUMMARY)
    metrics.call_ended("failed")
    metrics.call_refused("webhook", "draining")
    m = rendered(metrics)
    assert m[f"{NS}calls_active"] == 0
    assert m[f'{NS}calls_ended_total{{outcome="failed"}}'] == 1
    assert all(f'{NS}calls_ended_total{{outcome="{o}"}}' in m for o in CALL_OUTCOMES)  # exported at 0
    assert m[f'{NS}calls_refused_total{{kind="webhook",reason="draining"}}'] == 1
    assert m[f'{NS}ulaw_bytes_total{{direction="in"}}'] == 16000
    assert m[f'{NS}ulaw_bytes_total{{direction="out"}}'] == 24000
    assert m[f"{NS}barge_ins_total"] == 2
    assert m[f'{NS}noise_alarms_total{{reason="pcm_as_ulaw"}}'] == 1  # one call raised it
    assert m[f"{NS}first_reply_seconds_count"] == 1 and m[f"{NS}first_reply_seconds_sum"] == 0.65
    assert m[f'{NS}first_reply_seconds_bucket{{le="0.75"}}'] == 1
    assert m[f'{NS}first_reply_seconds_bucket{{le="0.5"}}'] == 0
    assert m[f"{NS}barge_in_latency_seconds_count"] == 2
    assert m[f"{NS}call_duration_seconds_count"] == 1
    assert m[f"{NS}realtime_session_failures_total"] == 1
    assert m[f"{NS}realtime_reconnects_total"] == 2


def test_session_failures_and_reconnects_come_from_the_service_stats_and_odd_values_count_zero() -> None:
    metrics = CallMetrics()
    # a start failure (refused, 401...) names itself in session_failure without a lost session
    metrics.record_summary({"realtime": {"session_failure": "OpenAI rejected the API key (HTTP 401)"}})
    metrics.record_summary({"realtime": {"realtime_lost": 1, "session_failure": "lost", "reconnects": 2}})
    metrics.record_summary({"realtime": {"realtime_lost": 0, "session_failure": None, "reconnects": 1}})
    metrics.record_summary({"rx_bytes": -5, "tx_bytes": "x", "first_reply_ms": None, "realtime": [1]})
    m = rendered(metrics)
    assert m[f"{NS}realtime_session_failures_total"] == 2  # one per failed call, however it failed
    assert m[f"{NS}realtime_reconnects_total"] == 3
    assert m[f'{NS}ulaw_bytes_total{{direction="in"}}'] == 0
    assert m[f"{NS}first_reply_seconds_count"] == 0


def test_instances_do_not_clash_and_the_global_registry_is_opt_in() -> None:
    a, b = CallMetrics(), CallMetrics()
    a.call_started()
    assert rendered(a)[f"{NS}calls_active"] == 1 and rendered(b)[f"{NS}calls_active"] == 0
    shared = CallMetrics(REGISTRY, namespace="test_global")
    try:
        assert REGISTRY.get_sample_value("test_global_calls_active") == 0
    finally:
        for value in vars(shared).values():
            if isinstance(value, MetricWrapperBase):
                REGISTRY.unregister(value)
    assert shared.registry is REGISTRY


def test_observe_hooks_the_observers_summary_event() -> None:
    from pipecat_twilio_realtime import MediaStatsObserver

    observer = MediaStatsObserver()
    metrics = CallMetrics()
    metrics.observe(observer)
    summary = asyncio.run(observer.finish())  # an empty call: its summary is still counted
    assert summary["rx_bytes"] == 0
    assert rendered(metrics)[f"{NS}call_duration_seconds_count"] == 1


# ----------------------------------------------------------------------------- the example app


async def test_metrics_during_and_after_a_call_and_readiness_at_the_cap() -> None:
    async with RealtimeStandIn(speed=8.0) as standin:
        settings = dataclasses.replace(
            load_settings(
                {
                    "ALLOW_UNSIGNED": "1",
                    "OPENAI_API_KEY": "sk-x",
                    "OPENAI_REALTIME_URL": standin.url,
                    "PUBLIC_HOST": "bot.example",
                }
            ),
            max_calls=1,
        )
        app = create_app(settings)
        async with serve(app) as port, aiohttp.ClientSession() as client:
            base = f"http://127.0.0.1:{port}"

            async def scrape() -> dict[str, float]:
                async with client.get(base + "/metrics") as response:
                    assert response.status == 200
                    return samples(await response.text())

            async def readyz() -> tuple[int, Any]:
                async with client.get(base + "/readyz") as response:
                    return response.status, await response.json()

            assert await readyz() == (
                200,
                {"ready": True, "reason": "ready", "active_calls": 0, "max_calls": 1},
            )
            script = [
                WaitForBotAudio(after_s=0.2),
                WaitForBotSilence(),
                Speech(load_clip("caller_question")),
                WaitForBotAudio(after_s=0.2, timeout_s=10),
                WaitForBotSilence(),
            ]
            call = asyncio.create_task(SimulatedTwilioCaller(f"ws://127.0.0.1:{port}/ws", script).run())
            await standin.wait_for("response.output_audio.delta", timeout=30)
            during = await scrape()
            status, body = await readyz()
            async with client.post(base + "/twiml", data={"From": "+1555", "CallSid": "CA2"}) as response:
                twiml = await response.text()
            report = await asyncio.wait_for(call, 60)
            async with asyncio.timeout(10):  # the summary is counted as the call ends
                while (after := await scrape()).get(f"{NS}first_reply_seconds_count") != 1 or after.get(
                    f"{NS}calls_active"
                ):  # the call leaves the active gauge when its handler returns, just after the summary
                    await asyncio.sleep(0.05)
    assert during[f"{NS}calls_active"] == 1
    assert status == 503 and body["reason"] == "at_cap"
    assert '<Reject reason="busy" />' in twiml
    assert report.violations == [] and report.reply_latencies_s
    assert after[f"{NS}calls_active"] == 0
    assert after[f'{NS}calls_ended_total{{outcome="caller_hung_up"}}'] == 1
    assert sum(v for k, v in after.items() if k.startswith(f"{NS}calls_ended_total")) == 1
    assert after[f'{NS}calls_refused_total{{kind="webhook",reason="at_cap"}}'] == 1
    assert after[f'{NS}ulaw_bytes_total{{direction="in"}}'] == report.ulaw_bytes_sent
    assert after[f'{NS}ulaw_bytes_total{{direction="out"}}'] == report.ulaw_bytes_received > 0
    assert after[f"{NS}first_reply_seconds_count"] == 1
    assert after[f"{NS}barge_ins_total"] == 0
    assert after[f"{NS}realtime_session_failures_total"] == 0
    assert after[f"{NS}draining"] == 0
