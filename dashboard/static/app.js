// r1 dashboard: curves of every metric of every run (metrics.jsonl), kept
// live by Server-Sent Events from /api/events, with the samples and the
// eval tables of a run. Plain DOM + SVG, no dependencies.
"use strict";

const palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
const runs = new Map(); // name → {rows: [], color, shown}
let smoothing = 0.6;
let filter = "";
let pending = false;
window.r1 = { runs, ready: false, metricLines: 0 }; // for tests

const $ = (id) => document.getElementById(id);

function addRun(name) {
  if (runs.has(name)) return;
  runs.set(name, { rows: [], color: palette[runs.size % palette.length], shown: true });
  renderRunList();
  const opt = document.createElement("option");
  opt.value = opt.textContent = name;
  $("srun").appendChild(opt);
  if (runs.size === 1) loadSamples();
  loadEvals();
}

function renderRunList() {
  const el = $("runs");
  el.textContent = "";
  for (const [name, r] of runs) {
    const lab = document.createElement("label");
    const cb = document.createElement("input");
    cb.type = "checkbox";
    cb.checked = r.shown;
    cb.onchange = () => { r.shown = cb.checked; redraw(); };
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = r.color;
    lab.append(cb, sw, ` ${name} (${r.rows.length} steps)`);
    el.appendChild(lab);
  }
}

// Numeric metric names in first-seen order (step and time excluded).
function metricNames() {
  const names = [];
  const seen = new Set();
  for (const r of runs.values()) {
    for (const row of r.rows) {
      for (const [k, v] of Object.entries(row)) {
        if (k === "step" || k === "time" || typeof v !== "number" || seen.has(k)) continue;
        seen.add(k);
        names.push(k);
      }
    }
  }
  return names.filter((n) => n.includes(filter));
}

// Exponential moving average with TensorBoard's debiasing.
function smooth(ys, a) {
  const out = [];
  let last = 0;
  let n = 0;
  for (const y of ys) {
    last = last * a + (1 - a) * y;
    n++;
    out.push(a > 0 ? last / (1 - Math.pow(a, n)) : y);
  }
  return out;
}

const W = 340, H = 180, PL = 54, PR = 8, PT = 8, PB = 18;
const svgNS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs) {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function fmt(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return +v.toPrecision(4) + "";
}

function drawChart(name) {
  const series = [];
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const [run, r] of runs) {
    if (!r.shown) continue;
    const pts = r.rows.filter((row) => typeof row[name] === "number" && isFinite(row[name]));
    if (pts.length === 0) continue;
    const xs = pts.map((row) => row.step ?? 0);
    const ys = pts.map((row) => row[name]);
    series.push({ run, color: r.color, xs, ys, sm: smooth(ys, smoothing) });
    for (const x of xs) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); }
    for (const y of ys) { y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  const card = document.createElement("div");
  card.className = "chart";
  card.dataset.metric = name;
  const h = document.createElement("h3");
  h.textContent = name;
  card.appendChild(h);
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
  card.appendChild(svg);
  if (series.length === 0) return card;
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y1 += Math.abs(y1) * 0.05 + 1e-9; y0 -= Math.abs(y0) * 0.05 + 1e-9; }
  const sx = (x) => PL + (x - x0) / (x1 - x0) * (W - PL - PR);
  const sy = (y) => PT + (1 - (y - y0) / (y1 - y0)) * (H - PT - PB);
  svg.appendChild(svgEl("rect", { x: PL, y: PT, width: W - PL - PR, height: H - PT - PB, fill: "none", stroke: "#eee" }));
  for (const [v, y] of [[y1, PT + 8], [y0, H - PB]]) {
    const t = svgEl("text", { x: PL - 4, y, "text-anchor": "end", class: "axis" });
    t.textContent = fmt(v);
    svg.appendChild(t);
  }
  for (const [v, anchor, x] of [[x0, "start", PL], [x1, "end", W - PR]]) {
    const t = svgEl("text", { x, y: H - 4, "text-anchor": anchor, class: "axis" });
    t.textContent = "step " + fmt(v);
    svg.appendChild(t);
  }
  for (const s of series) {
    const path = (ys) => ys.map((y, i) => `${i ? "L" : "M"}${sx(s.xs[i]).toFixed(1)},${sy(y).toFixed(1)}`).join("");
    if (smoothing > 0) svg.appendChild(svgEl("path", { d: path(s.ys), fill: "none", stroke: s.color, "stroke-opacity": 0.25, "stroke-width": 1 }));
    svg.appendChild(svgEl("path", { d: path(s.sm), fill: "none", stroke: s.color, "stroke-width": 1.6, class: "curve", "data-run": s.run, "data-points": s.xs.length }));
  }
  return card;
}

function redraw() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    const el = $("charts");
    el.textContent = "";
    for (const name of metricNames()) el.appendChild(drawChart(name));
    renderRunList();
  });
}

// Split a completion into reasoning and answer the way r1 serve does:
// reasoning inside <think> … </think>, the answer after it (without the
// R1-Zero <answer> tags).
function splitReasoning(text) {
  const i = text.indexOf("</think>");
  if (i < 0) return ["", text];
  let r = text.slice(0, i);
  const j = r.lastIndexOf("<think>");
  if (j >= 0) r = r.slice(j + 7);
  const a = text.slice(i + 8).replace(/<\/?answer>/g, "");
  return [r.trim(), a.trim()];
}

function scoreText(scores) {
  if (!scores) return "";
  return Object.entries(scores).map(([k, v]) => {
    if (typeof v !== "object" || v === null) return `${k}: ${v}`;
    let s = `${k}: ${fmt(v.value ?? NaN)}`;
    if (v.parts) s += " (" + Object.entries(v.parts).map(([p, x]) => `${p} ${fmt(x)}`).join(", ") + ")";
    if (v.error) s += " error: " + v.error;
    return s;
  }).join("\n");
}

async function loadSamples(step) {
  const run = $("srun").value || [...runs.keys()][0];
  if (!run) return;
  const q = new URLSearchParams({ run });
  if (step !== undefined) q.set("step", step);
  const res = await fetch("api/samples?" + q);
  if (!res.ok) return;
  const data = await res.json();
  const sel = $("sstep");
  sel.textContent = "";
  for (const s of data.steps) {
    const o = document.createElement("option");
    o.value = o.textContent = s;
    if (s === data.step) o.selected = true;
    sel.appendChild(o);
  }
  const body = $("samples").tBodies[0];
  body.textContent = "";
  data.samples.forEach((s, i) => {
    const tr = document.createElement("tr");
    const [reasoning, answer] = splitReasoning(s.completion ?? "");
    const cells = [[i, ""], [s.reward !== undefined ? fmt(s.reward) : "", ""], [scoreText(s.scores), "text"],
      [reasoning, "text reasoning"], [answer, "text"], [s.finish_reason ?? "", ""], [s.tokens ?? "", ""]];
    for (const [v, cls] of cells) {
      const td = document.createElement("td");
      td.className = cls;
      td.textContent = v;
      tr.appendChild(td);
    }
    tr.title = s.prompt ?? "";
    body.appendChild(tr);
  });
}

// An eval file is shown as tables: a flat object is one table; an object
// of objects (before/after, per benchmark) is a table with a row each.
function evalTable(title, obj) {
  const wrap = document.createElement("div");
  const h = document.createElement("h3");
  h.textContent = title;
  wrap.appendChild(h);
  const table = document.createElement("table");
  table.className = "evaltable";
  const nested = Object.entries(obj).filter(([, v]) => v && typeof v === "object" && !Array.isArray(v));
  const flat = Object.entries(obj).filter(([, v]) => typeof v !== "object" || v === null);
  if (nested.length) {
    const cols = [...new Set(nested.flatMap(([, v]) => Object.keys(v).filter((k) => typeof v[k] !== "object")))];
    const head = table.createTHead().insertRow();
    for (const c of ["", ...cols]) { const th = document.createElement("th"); th.textContent = c; head.appendChild(th); }
    const body = table.createTBody();
    for (const [k, v] of nested) {
      const tr = body.insertRow();
      tr.insertCell().textContent = k;
      for (const c of cols) tr.insertCell().textContent = typeof v[c] === "number" ? fmt(v[c]) : (v[c] ?? "");
    }
  }
  const body = table.tBodies[0] || table.createTBody();
  for (const [k, v] of flat) {
    const tr = body.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = typeof v === "number" ? fmt(v) : String(v);
  }
  wrap.appendChild(table);
  return wrap;
}

async function loadEvals() {
  const el = $("evals");
  el.textContent = "";
  for (const run of runs.keys()) {
    const res = await fetch("api/evals?" + new URLSearchParams({ run }));
    if (!res.ok) continue;
    for (const [file, obj] of Object.entries(await res.json())) {
      if (obj && typeof obj === "object") el.appendChild(evalTable(`${run} / ${file}`, obj));
    }
  }
}

function connect() {
  const es = new EventSource("api/events");
  es.addEventListener("run", (e) => addRun(JSON.parse(e.data).run));
  es.addEventListener("metric", (e) => {
    const { run, row } = JSON.parse(e.data);
    addRun(run);
    runs.get(run).rows.push(row);
    window.r1.metricLines++;
    redraw();
  });
  es.addEventListener("ready", () => {
    window.r1.ready = true;
    $("status").textContent = "live";
    redraw();
  });
  es.onerror = () => { $("status").textContent = "reconnecting…"; };
  es.onopen = () => {
    // A reconnect replays every line: start over.
    for (const r of runs.values()) r.rows = [];
  };
}

$("smooth").oninput = (e) => { smoothing = +e.target.value; $("smoothv").textContent = smoothing.toFixed(2); redraw(); };
$("filter").oninput = (e) => { filter = e.target.value; redraw(); };
$("srun").onchange = () => loadSamples();
$("sstep").onchange = (e) => loadSamples(e.target.value);
connect();
