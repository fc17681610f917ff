// The status page: polls the gateway's own read-only endpoints (status,
// health, metrics) and draws queue levels, upstream links and served bytes/s
// with sparklines. Plain browser JavaScript, no framework, nothing from a CDN.
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
