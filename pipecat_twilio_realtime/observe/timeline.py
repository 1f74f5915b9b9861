"""The call timeline: a JSON event log of one call and :func:`timeline_html`, one page that draws it.

Times are seconds on the call clock (caller audio byte 0 is 0 s, see :mod:`.recording`). Event kinds:

==================  ==========================================================================
``caller_speech``   ``t``–``end``: the caller spoke (an energy gate on the recorded caller audio)
``vad_speech``      ``t``–``end``: the speech detector's start and stop (Pipecat's user speaking frames)
``bot_audio``       ``t``–``end``: bot audio the caller heard (flushed audio is not in it)
``turn``            ``t`` caller speech ended → ``end`` first bot audio heard; ``latency_ms``
``barge_in``        the caller talked over the bot; ``latency_ms`` speech start → ``clear``
                    (``vad_latency_ms``: from the detector's start)
``clear``           a ``clear`` went to Twilio; ``flushed_ms`` of audio it dropped
``mark_sent``       a mark went out (``name``); ``mark_echo``: its echo (``played``)
``truncation``      the reply was truncated at ``audio_end_ms`` of ``produced_ms`` (``item_id``)
``tool_call``       the model called a tool (``name``)
``noise``           the noise alarm fired (``reason``)
``dtmf``            the caller pressed a key (``digit``)
``reconnect``       the upstream session was lost and re-opened (``reason``)
``upstream_fault``  the upstream session failed (``reason``)
``gap``             ``ms`` of silence inside a reply: the next audio had not arrived
``call_end``        the recording's end
==================  ==========================================================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ._timeline_page import PAGE

__all__ = ["TIMELINE_VERSION", "CallTimeline", "speech_spans", "timeline_html", "turns"]

TIMELINE_VERSION = 1
_SPAN_KINDS = ("caller_speech", "bot_audio")


class CallTimeline:
    """Collects one call's events as they happen; :meth:`document` returns the JSON-ready log."""

    def __init__(self) -> None:
        """Start an empty timeline."""
        self._events: list[dict[str, Any]] = []
        self._speech_from: float | None = None

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events so far, in the order they were added."""
        return self._events

    def add(self, kind: str, t: float, **fields: Any) -> None:
        """Add one event.

        Args:
            kind: The event kind (see the module docstring).
            t: Seconds on the call clock.
            **fields: The kind's fields (JSON values).
        """
        self._events.append({"t": round(max(0.0, t), 3), "kind": kind, **fields})

    def caller_speech(self, started: bool, t: float) -> None:
        """The speech detector's caller speech started or stopped (repeats of either are ignored)."""
        if started and self._speech_from is None:
            self._speech_from = t
        elif not started and self._speech_from is not None:
            self.add("vad_speech", self._speech_from, end=round(t, 3))
            self._speech_from = None

    def document(
        self,
        *,
        stream_sid: str,
        duration_s: float,
        heard: Sequence[Sequence[float]] = (),
        levels: Mapping[str, Sequence[int]] | None = None,
        level_step_s: float = 0.05,
        summary: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The call's timeline as a JSON-ready dict.

        With the caller's level envelope, ``caller_speech`` is where the caller's audio is speech (an
        energy gate over the recording: what the caller really said, when) and the speech detector's spans
        are ``vad_speech``; without it the detector's spans are ``caller_speech``. Turn latency and barge-in
        latency are measured from the ``caller_speech`` spans.

        Args:
            stream_sid: The stream SID.
            duration_s: The call's length on the call clock.
            heard: ``[start_s, end_s]`` of each stretch of bot audio heard (from the recorder).
            levels: RMS envelopes per channel (``caller``, ``bot``).
            level_step_s: The envelopes' step.
            summary: The observer's call summary (its counters are copied under ``summary``).

        Returns:
            ``{"version", "stream_sid", "duration_s", "events", "levels", "summary"}``.
        """
        if self._speech_from is not None:  # still speaking at the end
            self.caller_speech(False, duration_s)
        events = [e for e in self._events if e["kind"] not in ("bot_audio", "caller_speech")]
        caller_levels = (levels or {}).get("caller") or []
        if caller_levels:
            events += speech_spans(caller_levels, level_step_s)
        else:
            events = [{**e, "kind": "caller_speech"} if e["kind"] == "vad_speech" else e for e in events]
        events += [{"t": round(a, 3), "kind": "bot_audio", "end": round(b, 3)} for a, b in heard]
        _barge_in_latency(events)
        events += turns(events)
        events.append({"t": round(duration_s, 3), "kind": "call_end"})
        events.sort(key=lambda e: (e["t"], e["kind"], e.get("flushed_ms") or 0))  # cutting clears on top
        keep = ("bot_turns", "barge_ins", "clears", "idle_clears", "marks_sent", "noise", "rx_seconds")
        return {
            "version": TIMELINE_VERSION,
            "stream_sid": stream_sid,
            "duration_s": round(duration_s, 3),
            "events": events,
            "levels": {"step_s": level_step_s, **{k: list(v) for k, v in (levels or {}).items()}},
            "summary": {k: summary[k] for k in keep if summary and k in summary},
        }


def speech_spans(
    levels: Sequence[int],
    step_s: float,
    *,
    min_level: float = 300.0,
    join_s: float = 0.4,
    min_s: float = 0.15,
) -> list[dict[str, Any]]:
    """``caller_speech`` spans from an RMS envelope: above the gate, pauses under ``join_s`` joined.

    The gate is ``min_level`` or four times the envelope's 10th percentile (the line's noise floor),
    whichever is higher.

    Args:
        levels: RMS per step (PCM16 units).
        step_s: The step.
        min_level: The lowest gate.
        join_s: Pauses shorter than this are inside one span.
        min_s: Spans shorter than this are dropped (clicks).

    Returns:
        The spans (``t``, ``end``).
    """
    if not levels:
        return []
    floor = sorted(levels)[len(levels) // 10]
    gate = max(min_level, 4.0 * floor)
    spans: list[list[int]] = []
    for i, level in enumerate(levels):
        if level < gate:
            continue
        if spans and (i - spans[-1][1]) * step_s <= join_s:
            spans[-1][1] = i + 1
        else:
            spans.append([i, i + 1])
    return [
        {"t": round(a * step_s, 3), "kind": "caller_speech", "end": round(b * step_s, 3)}
        for a, b in spans
        if (b - a) * step_s >= min_s
    ]


def _barge_in_latency(events: list[dict[str, Any]]) -> None:
    """Each barge-in's ``latency_ms``: from the start of the caller speech it happened in (0.5 s grace)."""
    speech = [e for e in events if e["kind"] == "caller_speech"]
    for event in events:
        if event["kind"] != "barge_in":
            continue
        if "vad_latency_ms" not in event:
            event["vad_latency_ms"] = event.get("latency_ms")
        span = next((s for s in speech if s["t"] <= event["t"] <= s["end"] + 0.5), None)
        event["latency_ms"] = round((event["t"] - span["t"]) * 1000) if span else None


def turns(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One ``turn`` per caller speech that the bot answered: its end → the first bot audio heard after it.

    Args:
        events: Events with ``caller_speech`` and ``bot_audio`` spans.

    Returns:
        The ``turn`` events (``t``, ``end``, ``latency_ms``).
    """
    speech = sorted((e for e in events if e.get("kind") == "caller_speech"), key=lambda e: e["t"])
    audio = sorted(e["t"] for e in events if e.get("kind") == "bot_audio")
    out = []
    for i, span in enumerate(speech):
        end = float(span["end"])
        until = float(speech[i + 1]["t"]) if i + 1 < len(speech) else float("inf")
        first = next((a for a in audio if end <= a < until), None)
        if first is not None:
            out.append(
                {"t": round(end, 3), "kind": "turn", "end": first, "latency_ms": round((first - end) * 1000)}
            )
    return out


def timeline_html(events: Mapping[str, Any] | Sequence[Mapping[str, Any]], *, title: str = "") -> str:
    """One self-contained HTML page (inline CSS, JS and SVG; no network) drawing a call's timeline.

    The page draws a caller track and a bot track (``<g data-track="caller">``, ``data-track="bot"``), the
    level envelopes, speech and heard-audio spans, a marker per event (``data-kind``, ``data-t`` and, for
    turns and barge-ins, ``data-latency-ms``) and a table of the events. Text from the wire is set as text,
    never as markup.

    Args:
        events: The timeline document (:meth:`CallTimeline.document`), or a bare list of events.
        title: The page title (default: the stream SID).

    Returns:
        The page.
    """
    if isinstance(events, Mapping):
        doc: dict[str, Any] = dict(events)
    else:
        listed = list(events)
        end = max((float(e.get("end", e["t"])) for e in listed), default=0.0)
        doc = {"version": TIMELINE_VERSION, "stream_sid": "", "duration_s": end, "events": listed}
    doc.setdefault("levels", {"step_s": 0.05})
    if not any(e.get("kind") == "turn" for e in doc.get("events", [])):
        doc["events"] = [*doc.get("events", []), *turns(doc.get("events", []))]
    data = json.dumps(doc, ensure_ascii=True, separators=(",", ":"))
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    page_title = title or f"Call {doc.get('stream_sid') or ''}".strip()
    return PAGE.replace("__TITLE__", _escape(page_title)).replace("__DATA__", data)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
