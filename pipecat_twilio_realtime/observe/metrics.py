"""``CallMetrics``: Prometheus metrics for a phone bot, fed by ``MediaStatsObserver``'s call summaries.

Needs ``prometheus_client`` (the ``[metrics]`` or ``[example]`` extra); importing
:mod:`pipecat_twilio_realtime` itself never imports it. A bot adds it in a few lines::

    metrics = CallMetrics()                  # its own CollectorRegistry
    metrics.call_started()
    metrics.observe(observer)                # records the observer's on_call_summary
    ...run the call...
    metrics.call_ended("caller_hung_up")

    body, content_type = metrics.render()    # serve it at GET /metrics

With several worker processes set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before the
processes start (``prometheus_client`` reads it at import): every process writes its own files there,
:meth:`CallMetrics.render` sums them, and :func:`mark_process_dead` drops a leaving process's live gauges.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..realtime.usage import TokenUsage

__all__ = ["CALL_OUTCOMES", "CallMetrics", "mark_process_dead", "multiprocess_dir"]

CALL_OUTCOMES = ("caller_hung_up", "bot_hung_up", "timed_out", "drain_limit", "failed")
"""How a started call can end: the caller hung up, the bot did (``end_call``), the inactivity bound ended
it, the drain limit did, or it failed (the OpenAI session was lost, or the pipeline raised)."""

_FIRST_REPLY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_BARGE_IN_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0)
_DURATION_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class SummaryEmitter(Protocol):
    """What :meth:`CallMetrics.observe` hooks (a ``MediaStatsObserver`` is one)."""

    def add_event_handler(self, event_name: str, handler: Any) -> None:
        """Register ``handler`` for ``event_name``."""
        ...


def multiprocess_dir() -> str | None:
    """The ``PROMETHEUS_MULTIPROC_DIR`` in effect (``None``: one process, in-memory metrics)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def mark_process_dead(pid: int | None = None) -> None:
    """Drop a finished process's live gauges from the multiprocess directory (no-op without one).

    Args:
        pid: The process that left (default: this one, at its own shutdown).
    """
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(os.getpid() if pid is None else pid)


class CallMetrics:
    """Prometheus metrics of one bot: calls, their outcomes, and what each call's summary measured.

    Metric names (``namespace`` prefixed, default ``pipecat_twilio``):

    * ``calls_active`` (gauge; live processes summed): calls running now;
    * ``calls_ended_total{outcome}``: see :data:`CALL_OUTCOMES`;
    * ``calls_refused_total{kind,reason}``: webhooks and media streams turned away, e.g.
      ``kind="webhook",reason="draining"``;
    * ``draining`` (gauge; the max over live processes): 1 while a process drains;
    * from each call's summary: ``ulaw_bytes_total{direction="in"|"out"}``, ``barge_ins_total``,
      ``noise_alarms_total{reason}`` (calls whose outbound audio raised that alarm),
      ``first_reply_seconds`` and ``barge_in_latency_seconds`` (histograms, one sample per turn),
      ``call_duration_seconds``, ``realtime_session_failures_total`` and ``realtime_reconnects_total``;
    * ``realtime_tokens_total{kind}`` (``TokenUsage.by_kind()``: ``input_audio``, ``cached_text``,
      ``output_audio``, …) and ``realtime_cost_usd_total`` (the estimate at the service's price table).
      ``twilio_buffer_dry_total`` and ``twilio_buffer_dry_seconds_total``: times Twilio's buffer ran dry
      inside bot speech (the caller heard silence), estimated from mark echoes, and their length.

    Summary-derived numbers are counted when each call ends (the observer summarises once).
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, *, namespace: str = "pipecat_twilio"
    ) -> None:
        """Create the metrics.

        Args:
            registry: Where to register them: by default a new ``CollectorRegistry`` of their own (so
                several instances, e.g. in tests, never clash); pass ``prometheus_client.REGISTRY`` to
                share the process's global one.
            namespace: The prefix of every metric name.
        """
        self.registry = CollectorRegistry() if registry is None else registry
        kw: dict[str, Any] = {"namespace": namespace, "registry": self.registry}
        self.calls_active = Gauge("calls_active", "Calls running now.", multiprocess_mode="livesum", **kw)
        self.draining = Gauge(
            "draining", "1 while the process drains (takes no new calls).", multiprocess_mode="livemax", **kw
        )
        self.calls_ended = Counter("calls_ended", "Calls ended, by outcome.", ["outcome"], **kw)
        self.calls_refused = Counter(
            "calls_refused", "Webhooks and media streams turned away, by reason.", ["kind", "reason"], **kw
        )
        self.ulaw_bytes = Counter(
            "ulaw_bytes", "μ-law bytes on the Twilio wire (in: from the caller).", ["direction"], **kw
        )
        self.barge_ins = Counter("barge_ins", "Times a caller talked over the bot.", **kw)
        self.noise_alarms = Counter(
            "noise_alarms", "Calls whose outbound audio raised a noise alarm, by reason.", ["reason"], **kw
        )
        self.first_reply = Histogram(
            "first_reply_seconds",
            "Caller stopped speaking → first reply audio, per turn.",
            buckets=_FIRST_REPLY_BUCKETS,
            **kw,
        )
        self.barge_in_latency = Histogram(
            "barge_in_latency_seconds",
            "Caller started speaking over the bot → its audio cleared, per barge-in.",
            buckets=_BARGE_IN_BUCKETS,
            **kw,
        )
        self.call_duration = Histogram(
            "call_duration_seconds", "Call length, first frame to summary.", buckets=_DURATION_BUCKETS, **kw
        )
        self.session_failures = Counter(
            "realtime_session_failures", "OpenAI Realtime sessions lost during a call.", **kw
        )
        self.reconnects = Counter("realtime_reconnects", "OpenAI Realtime reconnects.", **kw)
        self.tokens = Counter("realtime_tokens", "Realtime tokens of ended calls, by kind.", ["kind"], **kw)
        self.cost = Counter("realtime_cost_usd", "Estimated Realtime cost of ended calls, USD.", **kw)
        for kind in TokenUsage().by_kind():
            self.tokens.labels(kind=kind)
        self.buffer_dry = Counter(
            "twilio_buffer_dry", "Times Twilio's buffer ran dry inside bot speech (from mark echoes).", **kw
        )
        self.buffer_dry_seconds = Counter(
            "twilio_buffer_dry_seconds", "Silence the caller heard inside bot speech: dry buffer time.", **kw
        )
        for direction in ("in", "out"):
            self.ulaw_bytes.labels(direction=direction)  # exported at 0 from the start
        for outcome in CALL_OUTCOMES:
            self.calls_ended.labels(outcome=outcome)

    # ------------------------------------------------------------------ the service's own events

    def call_started(self) -> None:
        """A call started (its stream is accepted)."""
        self.calls_active.inc()

    def call_ended(self, outcome: str) -> None:
        """A call that :meth:`call_started` counted has ended.

        Args:
            outcome: How it ended; one of :data:`CALL_OUTCOMES` (another value gets its own label).
        """
        self.calls_active.dec()
        self.calls_ended.labels(outcome=outcome).inc()

    def call_refused(self, kind: str, reason: str) -> None:
        """A webhook or media stream was turned away.

        Args:
            kind: ``"webhook"`` or ``"stream"``.
            reason: A short fixed word (e.g. ``"draining"``, ``"at_cap"``, ``"signature"``), never wire input.
        """
        self.calls_refused.labels(kind=kind, reason=reason).inc()

    def set_draining(self, draining: bool) -> None:
        """Say whether this process is draining."""
        self.draining.set(1 if draining else 0)

    # ------------------------------------------------------------------ the observer's summary

    def observe(self, observer: SummaryEmitter) -> None:
        """Record ``observer``'s ``on_call_summary`` when its call ends.

        Args:
            observer: The call's ``MediaStatsObserver``.
        """

        async def on_call_summary(_observer: Any, summary: dict[str, Any]) -> None:
            self.record_summary(summary)

        observer.add_event_handler("on_call_summary", on_call_summary)

    def record_summary(self, summary: Mapping[str, Any]) -> None:
        """Count one call's ``MediaStatsObserver`` summary (``CallStats.as_dict()`` plus ``realtime``).

        Missing keys count as zero, so a summary from an older or newer observer still records.

        Args:
            summary: The summary dict.
        """
        self.ulaw_bytes.labels(direction="in").inc(_number(summary.get("rx_bytes")))
        self.ulaw_bytes.labels(direction="out").inc(_number(summary.get("tx_bytes")))
        self.barge_ins.inc(_number(summary.get("barge_ins")))
        for reason, count in (summary.get("noise") or {}).items():
            if _number(count) > 0:
                self.noise_alarms.labels(reason=str(reason)).inc()
        for ms in summary.get("first_reply_ms") or ():
            self.first_reply.observe(_number(ms) / 1000)
        for ms in summary.get("barge_in_latency_ms") or ():
            self.barge_in_latency.observe(_number(ms) / 1000)
        self.buffer_dry.inc(_number(summary.get("twilio_dry_count")))
        self.buffer_dry_seconds.inc(_number(summary.get("twilio_dry_ms")) / 1000)
        if summary.get("duration_s") is not None:
            self.call_duration.observe(_number(summary.get("duration_s")))
        realtime = summary.get("realtime")
        if isinstance(realtime, Mapping):
            # session_failure names why the session could not go on (start failures included);
            # realtime_lost only says a running session was lost.
            failed = bool(realtime.get("session_failure")) or bool(_number(realtime.get("realtime_lost")))
            self.session_failures.inc(1 if failed else 0)
            self.reconnects.inc(_number(realtime.get("reconnects")))
            usage = realtime.get("usage")
            if isinstance(usage, Mapping):
                sums = TokenUsage(
                    **{k: int(_number(usage.get(k))) for k in TokenUsage().as_dict() if k != "total_tokens"}
                )
                for kind, count in sums.by_kind().items():
                    self.tokens.labels(kind=kind).inc(max(count, 0))
            self.cost.inc(_number(realtime.get("cost_usd")))

    # ------------------------------------------------------------------ exposition

    def render(self) -> tuple[bytes, str]:
        """The metrics in the Prometheus text format, and its content type.

        With ``PROMETHEUS_MULTIPROC_DIR`` set, every process's files there are summed (the metrics of
        the process serving the request are among them); otherwise this instance's registry is used.

        Returns:
            ``(body, content_type)``.
        """
        if multiprocess_dir() is not None:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and value >= 0:
        return float(value)
    return 0.0
