// The status page: polls the gateway's own read-only endpoints (status,
// health, metrics) and draws queue levels, upstream links (each chip and each
// Fortuna instance) and served bytes/s with sparklines. Plain browser
// JavaScript, no framework, nothing from a CDN.
"use strict";

const POLL_MS = 2000;
const HISTORY = 60; // two minutes of samples per sparkline
const history = { trng: { level: [], rate: [] }, fortuna: { level: [], rate: [] } };
let lastServed;

const $ = (sel, root = document) => root.querySelector(sel);

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function human(bytes) {
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (bytes >= 1000 && i < units.length - 1) (bytes /= 1000), i++;
  return `${bytes.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function sparkline(values, max) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${HISTORY - 1} 40`);
  svg.setAttribute("preserveAspectRatio", "none");
  const top = Math.max(max ?? Math.max(...values, 1), 1);
  const points = values.map((v, i) => `${i + HISTORY - values.length},${40 - (Math.min(v, top) / top) * 38 - 1}`).join(" ");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points);
  svg.append(line);
  return svg;
}

/** gateway_bytes_served_total{source="..."} from the Prometheus text. */
function servedBytes(metrics) {
  const out = {};
  for (const m of metrics.matchAll(/^gateway_bytes_served_total\{[^}]*source="(\w+)"[^}]*\} (\d+(?:\.\d+)?(?:e\+?\d+)?)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

function push(list, v) {
  list.push(v);
  if (list.length > HISTORY) list.shift();
}

function renderSource(name, q, rate) {
  const h = history[name];
  push(h.level, q.queue_percentage);
  if (rate !== undefined) push(h.rate, rate);
  const section = $(`#source-${name}`);
  $("[data-field=origin]", section).textContent = q.origin;
  for (const old of section.querySelectorAll(":scope > :not(h2)")) old.remove();
  const bar = el("div", { class: "level", role: "meter", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(q.queue_percentage) });
  const fill = el("div");
  fill.style.width = `${Math.min(100, q.queue_percentage)}%`; // CSSOM, which the page's CSP allows (a style attribute it would not)
  bar.append(fill);
  const dl = el("dl");
  const row = (label, value, attrs = {}) => dl.append(el("dt", {}, label), el("dd", attrs, value));
  row("queue", `${q.queue_current} / ${q.queue_capacity} (${q.queue_percentage}%)`, { "data-field": "queue" });
  row("upstream", q.connected ? "connected" : "disconnected", { "data-field": "connected", class: q.connected ? "up" : "down" });
  row("served", rate === undefined ? "…" : `${human(rate)}/s`, { "data-field": "rate" });
  row("consumed", String(q.consumed_count), { "data-field": "consumed" });
  row("dropped", String(q.queue_dropped), { "data-field": "dropped" });
  section.append(bar, dl, el("small", {}, "queue level"), sparkline(h.level, 100), el("small", {}, "served bytes/s"), sparkline(h.rate));
}

/** A table row: text cells, and [text, class] pairs for cells marked up or down. */
function tr(attrs, cells) {
  const row = el("tr", attrs);
  for (const c of cells) row.append(Array.isArray(c) ? el("td", { class: c[1] }, c[0]) : el("td", {}, c));
  return row;
}

const state = (ok, yes, no) => [ok ? yes : no, ok ? "up" : "down"];

/** An upstream's last failure, under its row, across the table. */
function errorRow(attrs, text, columns) {
  const row = el("tr", attrs);
  row.append(el("td", { class: "error", colspan: String(columns) }, text));
  return row;
}

/** Each chip and each Fortuna instance, from status.chips and status.fortuna_instances (gateway.proto). */
function renderUpstreams(status) {
  $("#chips tbody").replaceChildren(
    ...(status.chips ?? []).flatMap((c) => {
      const rows = [tr({ "data-chip": c.address }, [c.serial_number || "–", c.address, c.origin || "–", state(c.connected, "connected", "disconnected"), state(c.healthy, "passing", "failing"), String(c.samples_delivered ?? 0)])];
      if (c.last_error) rows.push(errorRow({ "data-chip-error": c.address }, c.last_error, 6));
      return rows;
    }),
  );
  $("#fortunas tbody").replaceChildren(
    ...(status.fortuna_instances ?? []).flatMap((f) => {
      const rows = [tr({ "data-fortuna": f.address }, [f.address, state(f.connected, "connected", "disconnected"), state(f.seeded, "seeded", "not yet")])];
      if (f.last_error) rows.push(errorRow({ "data-fortuna-error": f.address }, f.last_error, 3));
      return rows;
    }),
  );
}

function renderHealth(health) {
  const badge = $("#health");
  badge.dataset.status = health.status;
  badge.textContent = health.status;
  const list = $("#details");
  list.replaceChildren();
  for (const [k, v] of Object.entries(health.details ?? {})) {
    const li = el("li", { "data-detail": k });
    li.append(el("span", {}, k), el("span", { class: v === true ? "up" : v === false ? "down" : "" }, typeof v === "boolean" ? (v ? "up" : "down") : String(v)));
    list.append(li);
  }
}

async function fetchJson(path) {
  const res = await fetch(path, { cache: "no-store" });
  return res.json(); // health answers 503 with a body when unhealthy: still worth drawing
}

async function poll() {
  try {
    const [status, health, metrics] = await Promise.all([fetchJson("/api/v1/status"), fetchJson("/api/v1/health"), fetch("/metrics", { cache: "no-store" }).then((r) => r.text())]);
    const served = servedBytes(metrics);
    const now = performance.now();
    const rate = (s) => (lastServed && served[s] !== undefined ? Math.max(0, (served[s] - (lastServed.bytes[s] ?? 0)) / ((now - lastServed.at) / 1000)) : undefined);
    renderSource("trng", status.trng, rate("trng"));
    renderSource("fortuna", status.fortuna, rate("fortuna"));
    lastServed = { at: now, bytes: served };
    renderUpstreams(status);
    renderHealth(health);
    $("#db-size").textContent = status.database.size_human;
    const t = $("#updated");
    t.dateTime = new Date().toISOString();
    t.textContent = new Date().toLocaleTimeString();
    document.body.dataset.ready = "true";
  } catch (err) {
    $("#health").dataset.status = "unreachable";
    $("#health").textContent = "gateway unreachable";
  }
  setTimeout(poll, POLL_MS);
}

poll();
