"""The timeline page of a known call, rendered by a real headless Chromium (``chromium --dump-dom``).

The page draws itself with inline JS, so the DOM Chromium dumps after loading it is what a person sees: if
the script failed, the tracks and markers would be missing. Skips when Chromium is not installed (fails
under ``.ci/run``, which installs it: ``tests/_system_tools.need``).
"""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipecat_twilio_realtime.observe.timeline import CallTimeline, timeline_html

from .._system_tools import need

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@pytest.fixture(autouse=True)
def _chromium() -> None:
    need("chromium")


def chromium(tmp_path: Path, page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [need("chromium"), *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
    )


class Elements(HTMLParser):
    """Every start tag of the dumped DOM, with its attributes, and the text of table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.text: list[tuple[list[str], str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = (tag, {k: v or "" for k, v in attrs})
        self.tags.append(element)
        self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(([t for t, _ in self.stack], data.strip()))

    def find(self, tag: str | None = None, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.tags
            if (tag is None or t == tag) and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]


def known_call() -> dict[str, object]:
    """A call with a greeting, one answer 640 ms after the question, a barge-in 300 ms into speech."""
    timeline = CallTimeline()
    timeline.add("clear", 6.6, flushed_ms=540.0)
    timeline.add("barge_in", 6.6, latency_ms=0)
    timeline.add("tool_call", 7.5, name="</script><img src=x onerror=alert(1)>")
    timeline.add("gap", 3.0, ms=40.0)
    timeline.add("mark_sent", 1.0, name="ptr:item1/start")
    timeline.add("mark_echo", 1.02, name="ptr:item1/start", played=True)
    step = 0.05
    caller = [0] * 200
    for i in range(40, 70):  # 2.0–3.5 s: the question
        caller[i] = 3000
    for i in range(126, 150):  # 6.3–7.5 s: talks over the bot (from 6.288 s)
        caller[i] = 2500
    bot = [0] * 200
    for i in list(range(4, 30)) + list(range(83, 132)):
        bot[i] = 2000
    return timeline.document(
        stream_sid="MZ00000000000000000000000000000001",
        duration_s=10.0,
        heard=[[0.2, 1.5], [4.14, 6.6]],
        levels={"caller": caller, "bot": bot},
        level_step_s=step,
    )


def test_the_page_draws_the_tracks_and_the_events_of_a_known_call(tmp_path: Path) -> None:
    doc = known_call()
    page = tmp_path / "timeline.html"
    page.write_text(timeline_html(doc), encoding="utf-8")
    run = chromium(tmp_path, page, "--dump-dom", "--virtual-time-budget=5000")
    assert run.returncode == 0, run.stderr[-2000:]
    dom = Elements()
    dom.feed(run.stdout)

    assert dom.find("body", data_rendered="1"), "the page script did not finish"
    assert len(dom.find("g", data_track="caller")) == 1 and len(dom.find("g", data_track="bot")) == 1
    assert len(dom.find("polygon", data_kind="level")) == 2  # both envelopes drawn
    speech = dom.find("rect", data_kind="caller_speech")
    assert [(s["data-t"], s["data-end"]) for s in speech] == [("2", "3.5"), ("6.3", "7.5")]
    assert len(dom.find("rect", data_kind="bot_audio")) == 2
    barge_ins = dom.find("g", data_kind="barge_in")
    assert len(barge_ins) == 1 and barge_ins[0]["data-latency-ms"] == "300"
    turns = dom.find("g", data_kind="turn")
    assert [t["data-latency-ms"] for t in turns] == ["640"]
    assert len(dom.find("line", data_kind="clear")) == 1
    assert dom.find("rect", data_kind="gap", data_ms="40")
    texts = [text for _, text in dom.text]
    assert "barge-in 300 ms" in texts and "640 ms" in texts
    # text from the wire stays text: no element was made from the tool name
    assert not dom.find("img")
    assert any("onerror" in text for text in texts)


def test_a_page_that_cannot_be_drawn_says_so(tmp_path: Path) -> None:
    html = timeline_html({"stream_sid": "MZ1", "duration_s": 1.0, "events": [{"t": 0.5}]})
    page = tmp_path / "timeline.html"
    page.write_text(html, encoding="utf-8")
    run = chromium(tmp_path, page, "--dump-dom", "--virtual-time-budget=5000")
    assert run.returncode == 0, run.stderr[-2000:]
    dom = Elements()
    dom.feed(run.stdout)
    assert dom.find("body", data_rendered="error")
    assert any(text.startswith("timeline failed to render") for _, text in dom.text)


def test_the_page_loads_nothing_from_the_network() -> None:
    html = timeline_html(known_call())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html


def test_a_screenshot_of_the_page_is_a_picture(tmp_path: Path) -> None:
    page = tmp_path / "timeline.html"
    page.write_text(timeline_html(known_call()), encoding="utf-8")
    shot = tmp_path / "shot.png"
    run = chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1200,700", "--hide-scrollbars")
    assert run.returncode == 0, run.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 700) and len(data) > 20_000  # a drawn page, not a blank one
