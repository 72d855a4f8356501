// The Myelin console: one page that builds every view from the admin listener's JSON API.
//
// Views are chosen by the location hash (#/overview, #/brokers, #/topics, #/topics/NAME,
// #/messages?topic=…, #/groups), so every view has a link that can be shared or reloaded.
// A poller asks for /v1/summary, /v1/groups and /v1/health every POLL_MS whatever view is
// shown and keeps a bounded history, from which the throughput, latency and lag charts are
// drawn: rates and percentiles are differences between two polls, computed here.
//
// Record keys, values and header values are shown as text nodes, never as HTML.
"use strict";

/** How often the poller asks the broker (ms); `?poll=MS` in the page address changes it. */
const POLL_MS = Math.max(250, Number(new URLSearchParams(location.search).get("poll")) || 2000);
/** Polls kept for the charts: ten minutes at the default interval. */
const HISTORY_POINTS = 300;
/** Series one lag chart draws; more partitions are listed but not charted. */
const LAG_SERIES_MAX = 8;
/** Lines in a chart, in order. */
const COLOURS = ["#2f7ed8", "#e4572e", "#29a35a", "#9b59b6", "#f2a900", "#17becf",
  "#8c564b", "#e377c2", "#7f7f7f"];

const state = {
  /** Polled summaries, oldest first: {t: seconds, s: /v1/summary}. */
  summaries: [],
  /** The last /v1/groups answer. */
  groups: null,
  /** Lag history: poll times (seconds) and, per group partition (lagKey), values. */
  lag: { times: [], series: new Map() },
  /** The last /v1/health answer. */
  health: null,
  /** Charts of the current view, destroyed when it changes. */
  charts: [],
  /** Called after every poll while the current view wants fresh data. */
  onPoll: null,
  /** Counts renders, so a view whose data arrives after the next render drops it. */
  renders: 0,
};

/** Whether a view started at render `gen` has been replaced since. */
function replaced(gen) {
  return gen !== state.renders;
}

// ---------------------------------------------------------------- helpers

/** GETs a JSON endpoint; a 4xx/5xx becomes an Error carrying the broker's reason. */
async function api(path) {
  const r = await fetch(path, { cache: "no-store" });
  let body;
  try {
    body = await r.json();
  } catch (e) {
    throw new Error(`${path}: ${r.status} ${r.statusText}`);
  }
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body;
}

/** Makes an element: el("td", {class: "x", dataset: {offset: 3}}, "text", child…). */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "dataset") Object.assign(e.dataset, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function table(headings, rows, attrs) {
  return el("table", attrs,
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows));
}

function cell(field, value, attrs) {
  return el("td", Object.assign({ dataset: { field } }, attrs || {}), value);
}

function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function rate(n, unit) {
  if (n === null || n === undefined) return "—";
  if (unit === "B/s") return `${bytes(n)}/s`;
  return `${n.toFixed(n < 10 ? 1 : 0)} ${unit}`;
}

function isoTime(ms) {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

function errorBox(e) {
  return el("p", { class: "error", role: "alert" }, String(e.message || e));
}

function setView(...children) {
  for (const c of state.charts) c.destroy();
  state.charts = [];
  state.onPoll = null;
  const view = document.getElementById("view");
  view.replaceChildren(...children);
  return view;
}

// ---------------------------------------------------------------- charts

/** Upper bound of the bucket where quantile q of the observations between two histogram
 *  snapshots falls, interpolated linearly inside the bucket (ms); null without any. */
function quantileMs(bounds, before, after, q) {
  const counts = after.counts.map((c, i) => c - ((before && before.counts[i]) || 0));
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  const want = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] > 0 && seen + counts[i] >= want) {
      const lower = i === 0 ? 0 : bounds[i - 1];
      const upper = i < bounds.length ? bounds[i] : bounds[bounds.length - 1];
      return (lower + (upper - lower) * ((want - seen) / counts[i])) / 1000;
    }
    seen += counts[i];
  }
  return bounds[bounds.length - 1] / 1000;
}

function api_latency(summary, name) {
  const r = summary.requests.find((x) => x.api === name);
  return r ? r.latency : { counts: [], sum_us: 0, count: 0 };
}

/** Columns for uPlot from the polled summaries: [times, ...one array per series]. */
function summarySeries(pick) {
  const s = state.summaries;
  const xs = [];
  const ys = pick.map(() => []);
  for (let i = 1; i < s.length; i++) {
    const dt = s[i].t - s[i - 1].t;
    if (dt <= 0) continue;
    xs.push(s[i].t);
    pick.forEach((f, k) => ys[k].push(f(s[i - 1].s, s[i].s, dt)));
  }
  return [xs, ...ys];
}

function counterRate(field) {
  return (a, b, dt) => Math.max(0, b[field] - a[field]) / dt;
}

function latencyQuantile(name, q) {
  return (a, b) => quantileMs(b.latency_bounds_us, api_latency(a, name), api_latency(b, name), q);
}

function histogramQuantile(field, q) {
  return (a, b) => quantileMs(b.latency_bounds_us, a[field], b[field], q);
}

function requestRate(a, b, dt) {
  const sum = (s) => s.requests.reduce((n, r) => n + r.requests, 0);
  return Math.max(0, sum(b) - sum(a)) / dt;
}

/** A uPlot line chart in `box`; returns an object with update(data). */
function lineChart(box, title, labels, unit, data) {
  const width = Math.max(300, box.clientWidth || 560);
  const opts = {
    title,
    width,
    height: 220,
    scales: { x: { time: true } },
    series: [{}].concat(labels.map((label, i) => ({
      label,
      stroke: COLOURS[i % COLOURS.length],
      width: 1.5,
      spanGaps: false,
      value: (u, v) => (v === null || v === undefined ? "—" : formatUnit(v, unit)),
    }))),
    axes: [{}, { values: (u, ticks) => ticks.map((v) => formatUnit(v, unit)), size: 70 }],
  };
  const chart = new uPlot(opts, data, box);
  state.charts.push(chart);
  return chart;
}

function formatUnit(v, unit) {
  if (unit === "B/s") return `${bytes(v)}/s`;
  if (unit === "ms") return `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ms`;
  return `${v < 10 ? v.toFixed(1) : v.toFixed(0)}${unit ? " " + unit : ""}`;
}

// ---------------------------------------------------------------- polling

async function poll() {
  const now = Date.now() / 1000;
  const [summary, groups, health] = await Promise.allSettled([
    api("/v1/summary"), api("/v1/groups"), api("/v1/health").catch((e) => ({ error: e })),
  ]);
  if (summary.status === "fulfilled") {
    state.summaries.push({ t: summary.value.time_ms / 1000, s: summary.value });
    if (state.summaries.length > HISTORY_POINTS) state.summaries.shift();
  }
  if (groups.status === "fulfilled") {
    state.groups = groups.value;
    recordLag(now, groups.value);
  }
  if (health.status === "fulfilled") state.health = health.value;
  showHealth();
  if (state.onPoll) {
    try {
      state.onPoll();
    } catch (e) {
      console.error(e);
    }
  }
}

function lagKey(group, topic, partition) {
  return JSON.stringify([group, topic, partition]);
}

function recordLag(t, doc) {
  const lag = state.lag;
  lag.times.push(t);
  const seen = new Set();
  for (const g of doc.groups) {
    for (const o of g.offsets) {
      const key = lagKey(g.group, o.topic, o.partition);
      seen.add(key);
      if (!lag.series.has(key)) lag.series.set(key, new Array(lag.times.length - 1).fill(null));
      lag.series.get(key).push(o.lag === null || o.lag === undefined ? null : o.lag);
    }
  }
  for (const [key, values] of lag.series) {
    if (!seen.has(key)) values.push(null);
  }
  if (lag.times.length > HISTORY_POINTS) {
    lag.times.shift();
    for (const [key, values] of lag.series) {
      values.shift();
      if (values.every((v) => v === null)) lag.series.delete(key);
    }
  }
}

function showHealth() {
  const h = state.health;
  const box = document.getElementById("health");
  if (!h || h.error) {
    box.textContent = "broker unreachable";
    box.className = "health bad";
    return;
  }
  box.textContent = `node ${h.node_id} · ${h.ready ? "ready" : "not ready"}` +
    ` · controller ${h.controller}`;
  box.className = h.ready ? "health ok" : "health bad";
}

async function pollForever() {
  for (;;) {
    try {
      await poll();
    } catch (e) {
      console.error(e);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

// ---------------------------------------------------------------- views

function viewOverview() {
  const stats = el("div", { class: "stats" });
  const charts = el("div", { class: "charts" });
  setView(el("h1", {}, "Overview"), stats, charts,
    el("p", { class: "muted" },
      `Rates and latency percentiles over each ${POLL_MS / 1000} s poll of /v1/summary ` +
      "(percentiles interpolated inside the histogram buckets). Fetch latency includes " +
      "the time a fetch waits for data."));
  const specs = [
    ["Throughput", ["produced", "fetched"], "B/s",
      [counterRate("bytes_in"), counterRate("bytes_out")]],
    ["Records produced", ["records/s"], "/s", [counterRate("records_in")]],
    ["Requests", ["requests/s"], "/s", [requestRate]],
    ["Produce latency", ["p50", "p99"], "ms",
      [latencyQuantile("Produce", 0.5), latencyQuantile("Produce", 0.99)]],
    ["Fetch latency", ["p50", "p99"], "ms",
      [latencyQuantile("Fetch", 0.5), latencyQuantile("Fetch", 0.99)]],
    ["Append to durable", ["p50", "p99"], "ms",
      [histogramQuantile("append_to_durable", 0.5), histogramQuantile("append_to_durable", 0.99)]],
  ];
  const drawn = specs.map(([title, labels, unit, pick]) => {
    const box = el("div", { class: "chart", dataset: { chart: title } });
    charts.append(box);
    return { chart: lineChart(box, title, labels, unit, summarySeries(pick)), pick };
  });
  const refresh = () => {
    for (const d of drawn) d.chart.setData(summarySeries(d.pick));
    const s = state.summaries;
    const last = s.length ? s[s.length - 1].s : null;
    const prev = s.length > 1 ? s[s.length - 2] : null;
    const dt = prev ? s[s.length - 1].t - prev.t : 0;
    const r = (f) => (prev && dt > 0 ? Math.max(0, last[f] - prev.s[f]) / dt : null);
    stats.replaceChildren(...(last ? [
      stat("Produced", rate(r("bytes_in"), "B/s"), "bytes-in"),
      stat("Fetched", rate(r("bytes_out"), "B/s"), "bytes-out"),
      stat("Records in", rate(r("records_in"), "/s"), "records-in"),
      stat("Connections", last.connections, "connections"),
      stat("Produced in all", bytes(last.bytes_in), "bytes-in-total"),
    ] : [el("p", { class: "muted" }, "Waiting for the first poll…")]));
  };
  state.onPoll = refresh;
  refresh();
}

function stat(label, value, field) {
  return el("div", { class: "stat", dataset: { field } },
    el("div", { class: "stat-value" }, value), el("div", { class: "stat-label" }, label));
}

async function viewBrokers() {
  const gen = state.renders;
  setView(el("h1", {}, "Brokers"), el("p", { class: "muted" }, "Loading…"));
  const doc = await api("/v1/brokers");
  if (replaced(gen)) return;
  const rows = doc.brokers.map((b) => el("tr", { dataset: { node: b.node_id } },
    cell("node", b.node_id),
    cell("status", b.fenced ? "fenced" : "active", { class: b.fenced ? "bad" : "ok" }),
    cell("role", [b.node_id === doc.controller ? "controller" : null,
      b.node_id === doc.node_id ? "this broker" : null].filter(Boolean).join(", ")),
    cell("rack", b.rack || "—"),
    cell("listeners", b.listeners.map((l) => `${l.name} ${l.host}:${l.port}`).join(", "))));
  setView(el("h1", {}, "Brokers"),
    el("p", {}, `Cluster metadata as broker ${doc.node_id} has it; controller ${doc.controller}.`),
    table(["Node", "Status", "Role", "Rack", "Listeners"], rows, { id: "brokers" }));
}

function partitionTotals(t) {
  let hw = 0;
  let records = 0;
  let local = 0;
  for (const p of t.partitions) {
    if (!p.local) continue;
    local++;
    hw += p.local.high_watermark;
    records += p.local.high_watermark - p.local.log_start_offset;
  }
  return { hw, records, local };
}

async function viewTopics(showInternal) {
  const gen = state.renders;
  setView(el("h1", {}, "Topics"), el("p", { class: "muted" }, "Loading…"));
  const doc = await api("/v1/topics");
  if (replaced(gen)) return;
  const topics = doc.topics.filter((t) => showInternal || !t.internal);
  const rows = topics.map((t) => {
    const totals = partitionTotals(t);
    return el("tr", { dataset: { topic: t.name } },
      cell("name", el("a", { href: `#/topics/${encodeURIComponent(t.name)}` }, t.name)),
      cell("partitions", t.partition_count),
      cell("replication-factor", t.replication_factor),
      cell("offline", t.partitions.filter((p) => p.offline).length),
      cell("high-watermark", totals.local ? totals.hw : "—"),
      cell("records", totals.local ? totals.records : "—"),
      cell("size", bytes(t.size_bytes_local)));
  });
  const toggle = el("label", {},
    el("input", {
      type: "checkbox", id: "show-internal", checked: showInternal,
      onchange: (e) => viewTopics(e.target.checked).catch(fail),
    }), " show internal topics");
  setView(el("h1", {}, "Topics"), toggle,
    topics.length ? table(["Topic", "Partitions", "Replication factor", "Offline partitions",
      "High watermarks (sum)", "Offsets held", "Size here"], rows, { id: "topics" })
      : el("p", { class: "muted" }, "No topics."),
    el("p", { class: "muted" },
      "High watermarks, offsets and sizes count the partitions that have a replica on " +
      "this broker."));
}

async function viewTopic(name) {
  const gen = state.renders;
  setView(el("h1", {}, name), el("p", { class: "muted" }, "Loading…"));
  const doc = await api("/v1/topics");
  if (replaced(gen)) return;
  const t = doc.topics.find((x) => x.name === name);
  if (!t) throw new Error(`unknown topic ${name}`);
  const dash = (v) => (v === undefined || v === null ? "—" : v);
  const rows = t.partitions.map((p) => {
    const l = p.local || {};
    const browse = `#/messages?${new URLSearchParams({ topic: name, partition: p.partition })}`;
    return el("tr", { dataset: { partition: p.partition } },
      cell("partition", p.partition),
      cell("leader", p.offline ? "offline" : p.leader, { class: p.offline ? "bad" : null }),
      cell("leader-epoch", p.leader_epoch),
      cell("replicas", p.replicas.join(", ")),
      cell("isr", p.isr.join(", "), { class: p.isr.length < p.replicas.length ? "warn" : null }),
      cell("log-start-offset", dash(l.log_start_offset)),
      cell("high-watermark", dash(l.high_watermark)),
      cell("log-end-offset", dash(l.log_end_offset)),
      cell("size", p.local ? bytes(l.size_bytes) : "—"),
      el("td", {}, el("a", { href: browse }, "messages")));
  });
  const configs = t.configs.map((c) => el("tr", { dataset: { config: c.name } },
    cell("name", c.name), cell("value", c.value === null ? "—" : c.value),
    cell("source", c.source, { class: c.source === "topic" ? "strong" : null })));
  setView(el("h1", {}, `Topic ${name}`),
    el("p", {}, `Id ${t.id} · ${t.partition_count} partitions · replication factor ` +
      `${t.replication_factor}${t.internal ? " · internal" : ""}`),
    el("h2", {}, "Partitions"),
    table(["Partition", "Leader", "Leader epoch", "Replicas", "ISR", "Log start",
      "High watermark", "Log end", "Size", ""], rows, { id: "partitions" }),
    el("h2", {}, "Configs"),
    table(["Name", "Value", "Source"], configs, { id: "configs" }));
}

/** A key, value or header value as shown: its text, or hex, and a note when cut. */
function payloadNode(p, asHex) {
  if (p === null || p === undefined) return el("span", { class: "null" }, "null");
  let text = p.data;
  let encoding = p.encoding;
  if (asHex && encoding === "utf8") {
    text = Array.from(new TextEncoder().encode(text),
      (b) => b.toString(16).padStart(2, "0")).join("");
    encoding = "hex";
  }
  return el("span", { class: `payload ${encoding}`, dataset: { encoding } },
    text,
    p.truncated ? el("span", { class: "muted" }, ` … (${bytes(p.size)} in all)`) : null);
}

function messagesForm(q, topics) {
  const mode = q.has("offset") ? "offset" : q.has("timestamp") ? "timestamp" : "newest";
  const input = (id, attrs) => el("input", Object.assign({ id, name: id }, attrs));
  const form = el("form", { id: "browse", class: "browse" },
    el("label", {}, "Topic ",
      input("topic", { list: "topic-names", value: q.get("topic") || "", required: true })),
    el("datalist", { id: "topic-names" }, topics.map((t) => el("option", { value: t }))),
    el("label", {}, "Partition ",
      input("partition", { type: "number", min: 0, value: q.get("partition") || "0" })),
    el("label", {}, "From ",
      el("select", { id: "mode", name: "mode" },
        ["newest", "offset", "timestamp"].map((m) =>
          el("option", { value: m, selected: m === mode }, m === "timestamp" ? "time" : m)))),
    el("label", {}, "Offset ",
      input("offset", { type: "number", min: 0, value: q.get("offset") || "" })),
    el("label", {}, "Time ",
      input("timestamp", {
        placeholder: "ms since epoch or 2026-12-02T10:00:00Z", size: 28,
        value: q.get("timestamp") || "",
      })),
    el("label", {}, "Limit ",
      input("limit", { type: "number", min: 1, max: 100, value: q.get("limit") || "20" })),
    el("label", {}, input("hex", { type: "checkbox", checked: q.get("hex") === "1" }), " hex"),
    el("button", { type: "submit", id: "read" }, "Read"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const next = new URLSearchParams({ topic: f.get("topic"), partition: f.get("partition") });
    const m = f.get("mode");
    if (m === "offset") next.set("offset", f.get("offset"));
    if (m === "timestamp") {
      const raw = String(f.get("timestamp")).trim();
      const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
      next.set("timestamp", Number.isNaN(ms) ? raw : String(ms));
    }
    next.set("limit", f.get("limit"));
    if (f.get("hex")) next.set("hex", "1");
    go(`#/messages?${next}`);
  });
  return form;
}

/** Moves to a hash; the same hash again renders again (a repeated read). */
function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

async function viewMessages(q) {
  const gen = state.renders;
  const topics = await api("/v1/topics").then((d) => d.topics.map((t) => t.name), () => []);
  if (replaced(gen)) return;
  const form = messagesForm(q, topics);
  const out = el("div", { id: "messages-out" });
  setView(el("h1", {}, "Messages"), form, out);
  if (!q.get("topic")) {
    out.append(el("p", { class: "muted" }, "Choose a topic and partition."));
    return;
  }
  const apiQuery = new URLSearchParams();
  for (const k of ["topic", "partition", "offset", "timestamp", "limit"]) {
    if (q.has(k)) apiQuery.set(k, q.get(k));
  }
  let page;
  try {
    page = await api(`/v1/messages?${apiQuery}`);
  } catch (e) {
    if (!replaced(gen)) out.append(errorBox(e));
    return;
  }
  if (replaced(gen)) return;
  const asHex = q.get("hex") === "1";
  const rows = page.messages.map((m) => el("tr", { dataset: { offset: m.offset } },
    cell("offset", m.offset),
    cell("timestamp", [isoTime(m.timestamp), el("br"),
      el("span", { class: "muted" }, `${m.timestamp} · ${m.timestamp_type}`)],
    { dataset: { field: "timestamp", ms: m.timestamp } }),
    cell("key", payloadNode(m.key, asHex), { class: "key" }),
    cell("value", payloadNode(m.value, asHex), { class: "value" }),
    cell("headers", m.headers.map((h) => el("div", { class: "header", dataset: { key: h.key } },
      el("span", { class: "header-key" }, h.key), ": ", payloadNode(h.value, asHex))),
    { class: "headers" })));
  const more = new URLSearchParams(q);
  more.delete("timestamp");
  more.set("offset", page.next_offset);
  const summary = el("p", { id: "messages-summary" },
    `Partition ${page.partition} of ${page.topic} (leader ${page.leader}): log start ` +
    `${page.log_start_offset}, high watermark ${page.high_watermark}; from offset ` +
    `${page.start_offset}` +
    (page.timestamp !== null ? ` (first record at or after ${isoTime(page.timestamp)})` : "") +
    `, ${page.messages.length} records. `,
    page.next_offset < page.high_watermark
      ? el("a", { href: `#/messages?${more}`, id: "next-page" }, "Next page") : null);
  out.append(summary, page.messages.length
    ? table(["Offset", "Timestamp", "Key", "Value", "Headers"], rows, { id: "messages" })
    : el("p", { class: "muted", id: "no-messages" }, "No records there."));
}

function viewGroups() {
  const body = el("div", { id: "groups-body" });
  setView(el("h1", {}, "Consumer groups"),
    el("p", { class: "muted" },
      `Groups this broker coordinates, as of the last poll of /v1/groups (every ` +
      `${POLL_MS / 1000} s). Lag is the partition's high watermark minus the committed ` +
      "offset (the high watermark of a partition another broker leads is asked of it)."),
    body);
  let drawnFor = "";
  const charts = new Map();
  const cells = new Map();
  const refresh = () => {
    const doc = state.groups;
    if (!doc) {
      body.replaceChildren(el("p", { class: "muted" }, "Waiting for the first poll…"));
      return;
    }
    if (!doc.groups.length) {
      body.replaceChildren(el("p", { class: "muted", id: "no-groups" },
        "No group has committed offsets here."));
      drawnFor = "";
      return;
    }
    // Rebuild the tables (and charts) only when the set of group partitions changes;
    // otherwise update the cells and the chart data in place.
    const shape = JSON.stringify(doc.groups.map((g) =>
      [g.group, g.offsets.map((o) => [o.topic, o.partition])]));
    if (shape !== drawnFor) {
      for (const c of state.charts) c.destroy();
      state.charts = [];
      charts.clear();
      cells.clear();
      body.replaceChildren(...doc.groups.map((g) => groupSection(g, charts, cells)));
      drawnFor = shape;
    }
    for (const g of doc.groups) {
      let total = 0;
      let known = false;
      for (const o of g.offsets) {
        const row = cells.get(lagKey(g.group, o.topic, o.partition));
        if (!row) continue;
        row.querySelector('[data-field="committed"]').textContent = o.committed_offset;
        row.querySelector('[data-field="lag"]').textContent =
          o.lag === null || o.lag === undefined ? "—" : o.lag;
        row.querySelector('[data-field="commit-time"]').textContent =
          o.commit_ms > 0 ? isoTime(o.commit_ms) : "—";
        if (o.lag !== null && o.lag !== undefined) { total += o.lag; known = true; }
      }
      const t = cells.get(JSON.stringify([g.group]));
      if (t) t.textContent = known ? `total lag ${total}` : "lag unknown here";
      const c = charts.get(g.group);
      if (c) c.chart.setData(lagData(c.keys));
    }
  };
  state.onPoll = refresh;
  refresh();
}

function lagData(keys) {
  return [state.lag.times.slice(), ...keys.map((k) => (state.lag.series.get(k) || []).slice())];
}

function groupSection(g, charts, cells) {
  const rows = g.offsets.map((o) => {
    const row = el("tr", { dataset: { group: g.group, topic: o.topic, partition: o.partition } },
      cell("topic", o.topic), cell("partition", o.partition), cell("committed", ""),
      cell("lag", ""), cell("commit-time", ""));
    cells.set(lagKey(g.group, o.topic, o.partition), row);
    return row;
  });
  const box = el("div", { class: "chart" });
  const total = el("span", { class: "muted", dataset: { field: "total-lag" } });
  cells.set(JSON.stringify([g.group]), total);
  const section = el("section", { class: "group", dataset: { group: g.group } },
    el("h2", {}, `Group ${g.group} `, total),
    table(["Topic", "Partition", "Committed offset", "Lag", "Committed at"], rows,
      { class: "group-offsets" }),
    box);
  const keys = g.offsets.slice(0, LAG_SERIES_MAX).map((o) => lagKey(g.group, o.topic, o.partition));
  const labels = g.offsets.slice(0, LAG_SERIES_MAX).map((o) => `${o.topic}/${o.partition}`);
  // The chart is drawn once the section is in the page, so it knows its width.
  requestAnimationFrame(() => {
    if (!box.isConnected) return;
    const chart = lineChart(box, `Lag of ${g.group}`, labels, "", lagData(keys));
    charts.set(g.group, { keys, chart });
  });
  return section;
}

// ---------------------------------------------------------------- routing

function fail(e) {
  console.error(e);
  setView(el("h1", {}, "Error"), errorBox(e));
}

function render() {
  state.renders++;
  const hash = location.hash.replace(/^#/, "") || "/overview";
  const [path, query] = hash.split("?");
  const parts = path.split("/").filter(Boolean);
  const page = parts[0] || "overview";
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.dataset.nav === page);
  }
  const q = new URLSearchParams(query || "");
  let shown;
  switch (page) {
    case "overview": shown = viewOverview(); break;
    case "brokers": shown = viewBrokers(); break;
    case "topics":
      shown = parts[1]
        ? viewTopic(decodeURIComponent(parts.slice(1).join("/")))
        : viewTopics(false);
      break;
    case "messages": shown = viewMessages(q); break;
    case "groups": shown = viewGroups(); break;
    default: shown = Promise.reject(new Error(`no page ${page}`));
  }
  Promise.resolve(shown).catch(fail);
}

window.addEventListener("hashchange", render);
render();
pollForever();
