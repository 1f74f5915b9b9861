"""The page :func:`~pipecat_twilio_realtime.observe.timeline.timeline_html` fills in: inline CSS, JS and SVG.

``__TITLE__`` is replaced by the escaped title, ``__DATA__`` by the timeline JSON (``<``, ``>`` and ``&``
escaped, so it cannot end the script element). The script draws everything with ``createElementNS`` and
``textContent``: no markup is built from data.
"""

PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
  body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px 20px; color: #1d2330;
         background: #fff; }
  h1 { font-size: 17px; margin: 0 0 2px; }
  .facts { color: #4a5263; margin: 0 0 10px; }
  .facts b { color: #1d2330; }
  svg { display: block; background: #fbfcfe; border: 1px solid #dfe3ea; border-radius: 4px; }
  svg text { font: 11px system-ui, sans-serif; fill: #39404d; }
  svg text.track { font-weight: 600; font-size: 12px; }
  svg text.lat { font-weight: 600; fill: #0b6b3a; }
  svg text.barge { font-weight: 600; fill: #b3261e; }
  .legend span { display: inline-block; margin-right: 14px; }
  .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
  table { border-collapse: collapse; margin-top: 12px; font-size: 12px; }
  td, th { border-bottom: 1px solid #e6e9ef; padding: 2px 10px 2px 0; text-align: left; }
  th { color: #4a5263; font-weight: 600; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  #error { color: #b3261e; font-weight: 600; }
</style>
</head>
<body data-rendered="0">
<h1 id="title"></h1>
<p class="facts" id="facts"></p>
<p class="legend">
  <span><i style="background:#2e7d4f"></i>caller speech</span>
  <span><i style="background:#8a93a3"></i>speech detected (VAD)</span>
  <span><i style="background:#2f5fb3"></i>bot audio heard</span>
  <span><i style="background:#b3261e"></i>barge-in / clear</span>
  <span><i style="background:#e0892b"></i>gap</span>
  <span><i style="background:#7b3fb3"></i>tool call</span>
  <span><i style="background:#0b6b3a"></i>turn latency</span>
</p>
<div id="chart"></div>
<p id="error"></p>
<table id="events">
<thead><tr><th>time (s)</th><th>event</th><th>detail</th></tr></thead><tbody></tbody>
</table>
<script type="application/json" id="timeline-data">__DATA__</script>
<script>
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  function el(name, attrs, parent, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function fmt(s) { return (Math.round(s * 100) / 100).toFixed(2); }
  try {
    var doc = JSON.parse(document.getElementById("timeline-data").textContent);
    var events = doc.events || [];
    var duration = Math.max(doc.duration_s || 0, 0.1);
    events.forEach(function (e) { duration = Math.max(duration, e.end || e.t || 0); });
    var W = 1160, left = 92, right = 16, plotW = W - left - right;
    var x = function (t) { return left + (t / duration) * plotW; };
    var CALLER = { y: 40, h: 70 }, BOT = { y: 150, h: 70 }, EV = { y: 262 };
    var H = 330;
    var svg = el("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, "data-duration-s": duration });
    document.getElementById("chart").appendChild(svg);

    // time axis
    var axis = el("g", { "data-kind": "axis" }, svg);
    var step = duration > 120 ? 10 : duration > 40 ? 5 : duration > 12 ? 2 : 1;
    for (var s = 0; s <= duration + 1e-9; s += step) {
      el("line", { x1: x(s), x2: x(s), y1: 24, y2: H - 20, stroke: "#eceff4" }, axis);
      el("text", { x: x(s), y: H - 6, "text-anchor": "middle" }, axis, s + " s");
    }

    function track(name, label, box, color) {
      var g = el("g", { "data-track": name }, svg);
      el("rect", { x: left, y: box.y, width: plotW, height: box.h, fill: "#ffffff", stroke: "#dfe3ea",
                   "data-kind": "lane" }, g);
      el("text", { x: 8, y: box.y + box.h / 2 + 4, "class": "track" }, g, label);
      var levels = (doc.levels || {})[name] || [];
      var stepS = (doc.levels || {}).step_s || 0.05;
      if (levels.length) {
        var peak = 1;
        levels.forEach(function (v) { peak = Math.max(peak, v); });
        var mid = box.y + box.h / 2, half = box.h / 2 - 4, pts = [];
        levels.forEach(function (v, i) { pts.push(x(i * stepS) + "," + (mid - half * v / peak)); });
        for (var i = levels.length - 1; i >= 0; i--) {
          pts.push(x(i * stepS) + "," + (mid + half * levels[i] / peak));
        }
        el("polygon", { points: pts.join(" "), fill: color, "fill-opacity": 0.55, "data-kind": "level" }, g);
      }
      return g;
    }
    var callerG = track("caller", "caller", CALLER, "#2e7d4f");
    var botG = track("bot", "bot (heard)", BOT, "#2f5fb3");
    var marksG = el("g", { "data-track": "events" }, svg);
    el("text", { x: 8, y: EV.y + 4, "class": "track" }, marksG, "events");

    function span(g, box, e, color, kind) {
      var r = el("rect", { x: x(e.t), y: box.y + 2, width: Math.max(1, x(e.end) - x(e.t)), height: box.h - 4,
                           fill: color, "fill-opacity": 0.16, stroke: color, "stroke-opacity": 0.6,
                           "data-kind": kind, "data-t": e.t, "data-end": e.end }, g);
      el("title", {}, r, kind.replace("_", " ") + " " + fmt(e.t) + "–" + fmt(e.end) + " s");
    }
    var counts = {};
    events.forEach(function (e) {
      counts[e.kind] = (counts[e.kind] || 0) + 1;
      if (e.kind === "caller_speech") span(callerG, CALLER, e, "#2e7d4f", "caller_speech");
      else if (e.kind === "bot_audio") span(botG, BOT, e, "#2f5fb3", "bot_audio");
      else if (e.kind === "vad_speech") {
        el("rect", { x: x(e.t), y: CALLER.y + CALLER.h - 6, width: Math.max(1, x(e.end) - x(e.t)), height: 4,
                     fill: "#8a93a3", "data-kind": "vad_speech", "data-t": e.t, "data-end": e.end }, callerG);
      }
      else if (e.kind === "gap") {
        el("rect", { x: x(e.t), y: BOT.y + BOT.h - 10, width: Math.max(2, x(e.t + e.ms / 1000) - x(e.t)),
                     height: 8, fill: "#e0892b", "data-kind": "gap", "data-t": e.t, "data-ms": e.ms }, botG);
      } else if (e.kind === "clear") {
        var cut = e.flushed_ms > 0;  // an idle clear (nothing queued) cut nothing the caller heard
        var c = el("line", { x1: x(e.t), x2: x(e.t), y1: BOT.y - 4, y2: BOT.y + BOT.h + 4,
                             stroke: cut ? "#b3261e" : "#a7afbd", "stroke-width": cut ? 2 : 1,
                             "stroke-dasharray": "4 2", "data-kind": "clear", "data-t": e.t,
                             "data-flushed-ms": e.flushed_ms }, botG);
        el("title", {}, c, "clear at " + fmt(e.t) + " s: " + Math.round(e.flushed_ms) + " ms flushed");
      } else if (e.kind === "mark_echo" || e.kind === "mark_sent") {
        var up = e.kind === "mark_sent";
        el("line", { x1: x(e.t), x2: x(e.t), y1: up ? BOT.y - 6 : BOT.y + BOT.h,
                     y2: up ? BOT.y : BOT.y + BOT.h + 6, stroke: e.played === false ? "#b3261e" : "#8a93a3",
                     "data-kind": e.kind, "data-t": e.t }, botG);
      } else if (e.kind === "barge_in") {
        var bx = x(e.t), by = CALLER.y + CALLER.h + 2;
        var g = el("g", { "data-kind": "barge_in", "data-t": e.t, "data-latency-ms": e.latency_ms }, marksG);
        el("path", { d: "M" + bx + " " + by + " l-6 10 l12 0 z", fill: "#b3261e" }, g);
        el("text", { x: bx + 8, y: by + 10, "class": "barge" }, g,
           "barge-in" + (e.latency_ms != null ? " " + Math.round(e.latency_ms) + " ms" : ""));
      } else if (e.kind === "turn") {
        var g2 = el("g", { "data-kind": "turn", "data-t": e.t, "data-latency-ms": e.latency_ms }, marksG);
        var ty = BOT.y - 14;
        el("line", { x1: x(e.t), x2: x(e.end), y1: ty, y2: ty, stroke: "#0b6b3a", "stroke-width": 2 }, g2);
        el("line", { x1: x(e.t), x2: x(e.t), y1: ty - 4, y2: ty + 4, stroke: "#0b6b3a" }, g2);
        el("line", { x1: x(e.end), x2: x(e.end), y1: ty - 4, y2: ty + 4, stroke: "#0b6b3a" }, g2);
        el("text", { x: (x(e.t) + x(e.end)) / 2, y: ty - 6, "text-anchor": "middle", "class": "lat" }, g2,
           e.latency_ms + " ms");
      } else if (e.kind !== "call_end") {
        var colors = { tool_call: "#7b3fb3", noise: "#111111", truncation: "#b3261e", dtmf: "#2e7d4f",
                       reconnect: "#e0892b", upstream_fault: "#b3261e" };
        var ex = x(e.t);
        var g3 = el("g", { "data-kind": e.kind, "data-t": e.t }, marksG);
        el("path", { d: "M" + ex + " " + (EV.y - 7) + " l6 7 l-6 7 l-6 -7 z",
                     fill: colors[e.kind] || "#555" }, g3);
        var label = e.kind.replace("_", " ");
        if (e.name) label += " " + e.name;
        if (e.reason) label += " " + e.reason;
        if (e.digit) label += " " + e.digit;
        if (e.kind === "truncation") label += " at " + e.audio_end_ms + " ms";
        el("text", { x: ex + 8, y: EV.y + 18 }, g3, label);
      }
    });

    document.getElementById("title").textContent = document.title;
    var lat = events.filter(function (e) { return e.kind === "turn"; })
                    .map(function (e) { return e.latency_ms; });
    var facts = [["length", fmt(duration) + " s"], ["turns", String(lat.length)],
                 ["turn latency", lat.length ? lat.join(", ") + " ms" : "–"],
                 ["barge-ins", String(counts.barge_in || 0)], ["clears", String(counts.clear || 0)],
                 ["gaps", String(counts.gap || 0)]];
    var factsP = document.getElementById("facts");
    facts.forEach(function (f, i) {
      if (i) factsP.appendChild(document.createTextNode(" · "));
      factsP.appendChild(document.createTextNode(f[0] + ": "));
      var b = document.createElement("b"); b.textContent = f[1]; factsP.appendChild(b);
    });

    var body = document.querySelector("#events tbody");
    events.forEach(function (e) {
      if (e.kind === "mark_sent" || e.kind === "mark_echo") return;
      var tr = document.createElement("tr");
      tr.setAttribute("data-kind", e.kind);
      var detail = [];
      Object.keys(e).forEach(function (k) {
        if (k !== "t" && k !== "kind") detail.push(k + "=" + JSON.stringify(e[k]));
      });
      [[fmt(e.t), "num"], [e.kind, ""], [detail.join(" "), ""]].forEach(function (c) {
        var td = document.createElement("td");
        td.textContent = c[0];
        if (c[1]) td.className = c[1];
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    document.body.setAttribute("data-events", String(events.length));
    document.body.setAttribute("data-rendered", "1");
  } catch (err) {
    document.getElementById("error").textContent = "timeline failed to render: " + err;
    document.body.setAttribute("data-rendered", "error");
  }
})();
</script>
</body>
</html>
"""
