"""The live dashboard: one self-contained HTML page (no CDN, no external service).

It polls `/api/summary` with `fetch()` every `refresh_ms` and redraws: throughput (with a
two-minute sparkline), latency percentiles per stage, lag per partition, models (version, role,
online metrics, rolling loss), segments (rolling mean score and positive rate), recent drift
alerts and DLQ reasons.

>>> "fetch(" in dashboard_html("fraud") and "fraud" in dashboard_html("fraud")
True
"""

from __future__ import annotations

import html

_PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Eddy · __PIPELINE__</title>
<link rel="icon" href="data:,">
<style>
:root{--bg:#0f172a;--card:#1e293b;--fg:#e2e8f0;--mut:#94a3b8;--acc:#38bdf8;--bad:#f87171;--ok:#4ade80}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;align-items:baseline;gap:16px;padding:14px 20px;border-bottom:1px solid #334155}
h1{font-size:20px;margin:0}h2{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:var(--mut);margin:0 0 8px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:14px;padding:14px 20px}
.card{background:var(--card);border-radius:8px;padding:12px 14px;overflow-x:auto;min-width:0}
.kpis{display:flex;gap:22px;flex-wrap:wrap}.kpi .v{font-size:28px;font-weight:600;color:var(--acc)}.kpi .l{color:var(--mut);font-size:12px}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:13px}th,td{text-align:left;padding:3px 5px;border-bottom:1px solid #334155}
th{color:var(--mut);font-weight:500}td.n{text-align:right}.bad{color:var(--bad)}.ok{color:var(--ok)}.mut{color:var(--mut)}
.bar{height:8px;background:var(--acc);border-radius:3px}svg{width:100%;height:90px}
</style></head>
<body>
<header><h1>Eddy · <span id="pipeline">__PIPELINE__</span></h1><span class="mut" id="roles"></span>
<span class="mut">updated <span id="updated">never</span></span><span id="status" class="mut">connecting…</span></header>
<div class="grid">
 <div class="card" style="grid-column:1/-1"><h2>Throughput</h2>
  <div class="kpis">
   <div class="kpi"><div class="v" id="throughput">0</div><div class="l">events/s (10 s)</div></div>
   <div class="kpi"><div class="v" id="peak-rate">0</div><div class="l">peak events/s (2 min)</div></div>
   <div class="kpi"><div class="v" id="labels-rate">0</div><div class="l">labels/s</div></div>
   <div class="kpi"><div class="v" id="sunk-rate">0</div><div class="l">sunk rows/s</div></div>
   <div class="kpi"><div class="v" id="events-total">0</div><div class="l">events in</div></div>
   <div class="kpi"><div class="v" id="scored-total">0</div><div class="l">scored</div></div>
   <div class="kpi"><div class="v" id="dlq-total">0</div><div class="l">DLQ</div></div>
   <div class="kpi"><div class="v" id="alerts-total">0</div><div class="l">drift alerts</div></div>
  </div>
  <svg id="spark" viewBox="0 0 600 90" preserveAspectRatio="none"></svg>
  <div class="mut" style="font-size:12px">last 2 min, per second: <span style="color:#38bdf8">events</span> ·
   <span style="color:#a78bfa">labels</span> · <span style="color:#f87171">DLQ</span></div></div>
 <div class="card"><h2>Latency per stage (ms, last 60 s)</h2><table id="latency"></table></div>
 <div class="card"><h2>Consumer lag</h2><table id="lag"></table></div>
 <div class="card" style="grid-column:1/-1"><h2>Models</h2><table id="models"></table></div>
 <div class="card"><h2>Segments (rolling, champion)</h2><div id="segments"></div></div>
 <div class="card"><h2>Recent drift alerts</h2><table id="alerts"></table></div>
 <div class="card"><h2>DLQ reasons</h2><table id="dlq"></table></div>
</div>
<script>
"use strict";
const REFRESH = __REFRESH__;
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
const fmt = (x, d) => (x === null || x === undefined || Number.isNaN(x)) ? "–" : Number(x).toLocaleString(undefined, {maximumFractionDigits: d === undefined ? 1 : d});
function table(el, head, rows, empty) {
  if (!rows.length) { el.innerHTML = '<tr><td class="mut">' + esc(empty) + '</td></tr>'; return; }
  el.innerHTML = "<tr>" + head.map((h) => "<th>" + esc(h) + "</th>").join("") + "</tr>" +
    rows.map((r) => "<tr>" + r.map((c) => typeof c === "number" ? '<td class="n">' + fmt(c, 3) + "</td>" : "<td>" + c + "</td>").join("") + "</tr>").join("");
}
function spark(series) {
  const pts = series.events || [], n = pts.length;
  const max = Math.max(1, ...["events", "labels", "dlq"].flatMap((k) => (series[k] || []).map((p) => p[1])));
  const path = (arr, color) => arr.length ? '<polyline fill="none" stroke="' + color + '" stroke-width="2" points="' +
    arr.map((p, i) => (i * 600 / Math.max(1, n - 1)).toFixed(1) + "," + (88 - 84 * p[1] / max).toFixed(1)).join(" ") + '"/>' : "";
  $("spark").innerHTML = path(pts, "#38bdf8") + path(series.labels || [], "#a78bfa") + path(series.dlq || [], "#f87171");
}
function render(s) {
  const t = s.totals || {};
  $("roles").textContent = "roles: " + s.roles.join(", ") + " · up " + fmt(s.uptime_s, 0) + " s";
  $("throughput").textContent = fmt(s.throughput.events_per_s);
  $("peak-rate").textContent = fmt(Math.max(0, ...(s.throughput.series.events || []).map((p) => p[1])), 0);
  $("labels-rate").textContent = fmt(s.throughput.labels_per_s);
  $("sunk-rate").textContent = fmt(s.throughput.sunk_per_s);
  $("events-total").textContent = fmt(t.events_in || 0, 0);
  $("scored-total").textContent = fmt(t.scored || 0, 0);
  $("dlq-total").textContent = fmt(t.dlq || 0, 0);
  $("alerts-total").textContent = fmt(t.alerts || 0, 0);
  spark(s.throughput.series);
  table($("latency"), ["stage", "p50", "p95", "p99", "batches"],
    Object.entries(s.latency_ms).map(([k, v]) => [esc(k), v.p50, v.p95, v.p99, v.n]), "no batches in the last minute");
  table($("lag"), ["topic", "partition", "position", "highwater", "lag"],
    s.lag.map((l) => [esc(l.topic.startsWith(s.pipeline + ".") ? l.topic.slice(s.pipeline.length + 1) : l.topic), l.partition,
      l.position, l.highwater, l.lag]), "no partition assigned yet");
  const metricNames = [...new Set(s.models.flatMap((m) => Object.keys(m.metrics || {}).filter((k) => k !== "n")))];
  table($("models"), ["model", "role", "version", "predictions", "labels", ...metricNames, "rolling loss"],
    s.models.map((m) => [esc(m.name), esc(m.role || ""), m.version === null ? "–" : m.version, m.predictions,
      (m.metrics || {}).n === undefined ? "–" : m.metrics.n, ...metricNames.map((k) => (m.metrics || {})[k] === undefined ? "–" : m.metrics[k]),
      m.rolling_loss === null ? "–" : m.rolling_loss]), "no models yet");
  const segs = Object.entries(s.segments);
  $("segments").innerHTML = segs.length ? segs.map(([field, vals]) => {
    const top = Math.max(...vals.map((v) => v.n));
    return "<h2>" + esc(field) + '</h2><table><tr><th>value</th><th>n</th><th>mean score</th><th>positive rate</th><th></th></tr>' +
      vals.map((v) => "<tr><td>" + esc(v.value) + '</td><td class="n">' + fmt(v.n, 0) + '</td><td class="n">' + fmt(v.mean_score, 3) +
        '</td><td class="n">' + fmt(v.positive_rate, 3) + '</td><td style="width:30%"><div class="bar" style="width:' +
        (100 * v.n / top).toFixed(0) + '%"></div></td></tr>').join("") + "</table>";
  }).join("") : '<span class="mut">no segments configured or no events yet</span>';
  table($("alerts"), ["model", "kind", "value", "action", "event ts"],
    s.alerts.map((a) => [esc(a.model), esc(a.kind), a.value, esc(a.action), esc(new Date(a.ts).toISOString().slice(5, 19).replace("T", " "))]), "no drift alerts");
  table($("dlq"), ["class", "source", "count", "last reason"],
    s.dlq_reasons.map((d) => [esc(d.error_class), esc(d.source), d.count, '<span class="mut">' + esc(d.last_reason) + "</span>"]), "nothing in the DLQ");
  const out = Object.keys(s.outages || {});
  $("status").className = out.length ? "bad" : "ok";
  $("status").textContent = out.length ? "outage: " + out.join(", ") : "healthy";
  $("updated").textContent = new Date(s.now * 1000).toLocaleTimeString();
}
async function tick() {
  try {
    const r = await fetch("/api/summary", {cache: "no-store"});
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
  } catch (e) {
    $("status").className = "bad";
    $("status").textContent = "worker unreachable (" + e.message + ")";
  } finally {
    setTimeout(tick, REFRESH);
  }
}
tick();
</script>
</body></html>
"""


def dashboard_html(pipeline: str, refresh_ms: int = 1000) -> str:
    """The page for `pipeline`, refreshing every `refresh_ms` milliseconds."""
    return _PAGE.replace("__PIPELINE__", html.escape(pipeline)).replace("__REFRESH__", str(int(refresh_ms)))
