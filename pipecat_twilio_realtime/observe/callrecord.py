"""``CallRecording``: one call's recording and timeline, kept by ``MediaStatsObserver``, written at its end.

The wire events (audio both ways, ``clear``, marks, ``stop``) come from the serializer through the
:class:`~.recording.CallRecorder` tap; the pipeline's events (caller speech, tool calls, keypad digits,
barge-ins, noise alarms, reconnects) from the observer. At the end of the call it writes, into
``record_dir`` when given:

* ``<stream_sid>.wav``: the stereo recording (caller left, bot as heard right, 8000 Hz PCM16);
* ``<stream_sid>.timeline.json``: the event log (:mod:`.timeline`);
* ``<stream_sid>.timeline.html``: the page drawing it (:func:`.timeline.timeline_html`).

Without ``record_dir`` the WAV stays a temporary file, for the ``on_recording`` handler to ship and delete.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from loguru import logger
from pipecat.frames.frames import FunctionCallInProgressFrame, InputDTMFFrame

from .._logsafe import quote_for_log
from .recording import LEVEL_STEP_S, CallRecorder, safe_file_stem, temp_wav_path
from .timeline import CallTimeline, timeline_html

__all__ = ["CallRecording", "collect_call_files"]

_SUFFIXES = {"call.wav": ".wav", "timeline.json": ".timeline.json", "timeline.html": ".timeline.html"}


class CallRecording:
    """The recording and timeline of one call (built by ``MediaStatsObserver`` when ``record`` is on)."""

    def __init__(self, *, record_dir: Path | None = None, audio: bool = True) -> None:
        """Prepare the recording.

        Args:
            record_dir: Where the files go at the end of the call (created if missing); ``None`` keeps the
                WAV as a temporary file and writes no timeline files (the handler gets the timeline).
            audio: Record the audio (``False``: only the timeline).
        """
        self._dir = record_dir
        if record_dir is not None:
            record_dir.mkdir(parents=True, exist_ok=True)
        self.timeline = CallTimeline()
        self.recorder = CallRecorder(
            audio_path=temp_wav_path(record_dir) if audio else None, on_event=self.timeline.add
        )
        self._clock: Callable[[], float] | None = None
        self._done = False

    def attach(self, serializer: Any) -> None:
        """Tap ``serializer`` (a ``TwilioMediaStreamSerializer``): its wire events and clock."""
        serializer.set_wire_tap(self.recorder)
        self._clock = serializer.clock

    @property
    def attached(self) -> bool:
        """Whether a serializer feeds the recording."""
        return self._clock is not None

    def now(self) -> float:
        """Seconds on the call clock now (0 before a serializer is attached)."""
        return self.recorder.call_time(self._clock()) if self._clock is not None else 0.0

    def on_frame(self, frame: object, speech: bool | None) -> None:
        """Note a frame the observer saw: ``speech`` is ``True``/``False`` for caller speech start/stop."""
        if speech is not None:
            self.timeline.caller_speech(speech, self.now())
        elif isinstance(frame, FunctionCallInProgressFrame):
            self.timeline.add("tool_call", self.now(), name=frame.function_name)
        elif isinstance(frame, InputDTMFFrame):
            self.timeline.add("dtmf", self.now(), digit=str(frame.button.value))

    def event(self, kind: str, **fields: Any) -> None:
        """Add an event at the current call time (``barge_in``, ``noise``, ``reconnect``…)."""
        self.timeline.add(kind, self.now(), **fields)

    def finish(self, stream_sid: str, summary: Mapping[str, Any]) -> dict[str, Any]:
        """Finalize (once) and write the files.

        Args:
            stream_sid: The stream SID (from the wire; made safe for a file name).
            summary: The observer's call summary.

        Returns:
            The call info for ``on_recording``: ``stream_sid``, ``wav`` (path or ``None``),
            ``timeline_json`` and ``timeline_html`` (paths or ``None``), ``timeline`` (the document),
            ``recording`` (:meth:`.recording.RecordingInfo.as_dict`).
        """
        now = self._clock() if self._clock is not None else 0.0
        info = self.recorder.finalize(now, stream_sid)
        self._add_upstream(summary)
        doc = self.timeline.document(
            stream_sid=stream_sid,
            duration_s=info.duration_s,
            heard=info.heard,
            levels=info.levels,
            level_step_s=LEVEL_STEP_S,
            summary=summary,
        )
        call: dict[str, Any] = {
            "stream_sid": stream_sid,
            "wav": info.path,
            "timeline_json": None,
            "timeline_html": None,
            "timeline": doc,
            "recording": info.as_dict(),
        }
        if self._done:
            return call
        self._done = True
        stem = safe_file_stem(stream_sid) if stream_sid else "call"
        if self._dir is None and info.path is not None:  # finished: a .wav the handler can ship
            call["wav"] = info.path.replace(info.path.with_name(f"{stem}-{info.path.name[6:-5]}"))
        if self._dir is not None:
            if info.path is not None:
                call["wav"] = info.path.replace(self._dir / f"{stem}.wav")
            json_path = self._dir / f"{stem}.timeline.json"
            json_path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
            html_path = self._dir / f"{stem}.timeline.html"
            html_path.write_text(timeline_html(doc), encoding="utf-8")
            call["timeline_json"], call["timeline_html"] = json_path, html_path
        call["recording"]["path"] = str(call["wav"]) if call["wav"] else None
        logger.info(
            f"RECORDING stream={quote_for_log(stream_sid or None)} s={info.duration_s:.2f} "
            f"heard_s={info.heard_bytes / 8000:.2f} flushed_s={info.flushed_bytes / 8000:.2f} "
            f"wav={call['wav']} timeline={call['timeline_html']}"
        )
        return call

    def _add_upstream(self, summary: Mapping[str, Any]) -> None:
        """Truncations and an upstream failure, from the service's counters (their times: the barge-ins)."""
        realtime = summary.get("realtime")
        if not isinstance(realtime, Mapping):
            return
        barge_ins = [e["t"] for e in self.timeline.events if e["kind"] == "barge_in"]
        for i, truncation in enumerate(realtime.get("truncations") or []):
            item_id, audio_end_ms, produced_ms = truncation
            at = barge_ins[i] if i < len(barge_ins) else self.now()
            self.timeline.add(
                "truncation", at, item_id=str(item_id), audio_end_ms=audio_end_ms, produced_ms=produced_ms
            )
        failure = realtime.get("session_failure")
        if failure:
            self.timeline.add("upstream_fault", self.now(), reason=str(failure)[:200])


def collect_call_files(record_dir: Path, stream_sid: str, dest: Path) -> dict[str, Path]:
    """Move one call's files into ``dest``: ``call.wav``, ``timeline.json`` and ``timeline.html``.

    Args:
        record_dir: The ``record_dir`` the call was recorded into.
        stream_sid: The call's stream SID.
        dest: Where the files go (created if missing).

    Returns:
        The files moved, by their new name (those the call did not write are left out).
    """
    dest.mkdir(parents=True, exist_ok=True)
    stem = safe_file_stem(stream_sid)
    moved = {}
    for name, suffix in _SUFFIXES.items():
        source = record_dir / f"{stem}{suffix}"
        if source.is_file():
            moved[name] = source.replace(dest / name)
    return moved
