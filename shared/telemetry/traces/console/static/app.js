// The trace console: service map (cytoscape), trace search by X-Ray filter expressions (parsed
// by the server: one parser for this page and `traces find`), groups, and one trace's timeline.
"use strict";

const HEALTH = { ok: "#2e9d4f", error: "#e69a18", throttle: "#8a4fd0", fault: "#d33131" };
const $ = (id) => document.getElementById(id);
let cy = null;

function rangeQuery() {
  const params = new URLSearchParams();
  const range = $("range").value;
  if (range === "custom") {
    if ($("from").value) params.set("since", String(new Date($("from").value).getTime() / 1000));
    if ($("to").value) params.set("until", String(new Date($("to").value).getTime() / 1000));
  } else {
    params.set("since", String(Date.now() / 1000 - Number(range)));
  }
  const filter = $("filter").value.trim();
  if (filter) params.set("filter", filter);
  return params;
}

async function getJson(url, options) {
  const response = await fetch(url, options);
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw Object.assign(new Error(body?.detail || response.statusText), { body });
  return body;
}

function showError(err) {
  const box = $("error");
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  const body = err.body || {};
  if (body.column) {
    const text = $("filter").value;
    box.textContent = `${text}\n${" ".repeat(body.column - 1)}^\n${body.detail}`;
  } else {
    box.textContent = err.message;
  }
  box.hidden = false;
}

function pct(v) { return `${v.toFixed(1)}%`; }

function details(title, row) {
  const panel = $("details");
  const max = Math.max(1, ...row.histogram.map((b) => b.count));
  const bars = row.histogram.map((b) =>
    `<div style="height:${Math.round((b.count / max) * 56) + (b.count ? 4 : 0)}px" title="${b.count} ≤ ${b.le_ms ?? "∞"} ms"><span>${b.le_ms ?? "∞"}</span></div>`).join("");
  panel.innerHTML = `<strong class="mono"></strong>
    <div>calls ${row.count} · ok ${row.ok} · error ${pct(row.error_pct)} · throttle ${pct(row.throttle_pct)}
    · fault ${pct(row.fault_pct)} · p50 ${row.p50_ms.toFixed(2)} ms · p99 ${row.p99_ms.toFixed(2)} ms
    · health <b>${row.health}</b></div>
    <div class="hist-wrap">latency histogram (ms)<div class="hist">${bars}</div></div>`;
  panel.querySelector("strong").textContent = title;
  panel.hidden = false;
}

function drawMap(graph) {
  $("map-summary").textContent = `${graph.traces} traces, ${graph.spans} spans`;
  const elements = [];
  const nodeId = (type, name) => `${type}:${name}`;
  for (const node of graph.nodes) {
    elements.push({ data: { id: nodeId(node.type, node.name), label: `${node.name}\n${node.count} calls`,
      kind: node.type, colour: HEALTH[node.health], row: node } });
  }
  graph.edges.forEach((edge, index) => {
    const label = edge.kind === "session" ? `${edge.count} sessions`
      : `${edge.count} · p99 ${edge.p99_ms.toFixed(1)} ms`;
    elements.push({ data: { id: `e${index}`, source: nodeId(edge.source_type, edge.source),
      target: nodeId(edge.target_type, edge.target), label, kind: edge.kind,
      colour: HEALTH[edge.health], row: edge } });
  });
  if (cy) cy.destroy();
  cy = cytoscape({
    container: $("map"),
    elements,
    wheelSensitivity: 0.3,
    style: [
      { selector: "node", style: { "background-color": "data(colour)", label: "data(label)",
        "text-wrap": "wrap", "font-size": 10, "text-valign": "bottom", "text-margin-y": 4,
        width: 28, height: 28, "border-width": 2, "border-color": "#fff" } },
      { selector: "node[kind = 'topic']", style: { shape: "round-rectangle" } },
      { selector: "node[kind = 'store']", style: { shape: "barrel" } },
      { selector: "node[kind = 'client']", style: { shape: "diamond" } },
      { selector: "edge", style: { width: 2, "line-color": "data(colour)", "target-arrow-color": "data(colour)",
        "target-arrow-shape": "triangle", "curve-style": "bezier", label: "data(label)", "font-size": 8,
        "text-rotation": "autorotate", "text-background-color": "#fff", "text-background-opacity": 0.8 } },
      { selector: "edge[kind = 'session']", style: { "line-style": "dashed" } },
    ],
    layout: { name: "breadthfirst", directed: true, spacingFactor: 1.1, padding: 20 },
  });
  cy.on("tap", "node, edge", (event) => {
    const data = event.target.data();
    const title = event.target.isEdge()
      ? `${data.row.source} → ${data.row.target} (${data.kind})` : `[${data.kind}] ${data.row.name}`;
    details(title, data.row);
  });
}

function listTraces(rows) {
  $("trace-count").textContent = `${rows.length} shown`;
  const body = $("traces").querySelector("tbody");
  body.replaceChildren();
  for (const t of rows) {
    const tr = document.createElement("tr");
    tr.className = "trace" + (t.error_count ? " failed" : "");
    tr.dataset.traceId = t.trace_id;
    const cells = [new Date(t.start_ns / 1e6).toLocaleTimeString(), t.trace_id,
      t.duration_ms.toFixed(2), String(t.span_count), t.root_name, t.services.join(", ")];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    tr.addEventListener("click", () => openTrace(t.trace_id));
    body.appendChild(tr);
  }
}

async function openTrace(traceId) {
  const doc = await getJson(`/api/traces/${traceId}`);
  $("trace-panel").hidden = false;
  $("trace-id").textContent = doc.trace_id;
  const total = Math.max(...doc.spans.map((s) => s.offset_ms + s.duration_ms), 0.001);
  const services = [...new Set(doc.spans.map((s) => s.service))];
  $("trace-summary").textContent = `${doc.spans.length} spans · ${total.toFixed(2)} ms · ${services.join(", ")}`;
  const timeline = $("timeline");
  timeline.replaceChildren();
  for (const span of doc.spans) {
    const row = document.createElement("div");
    row.className = "span-row" + (span.critical ? " critical" : "");
    row.dataset.spanId = span.span_id;
    row.dataset.service = span.service;
    const name = document.createElement("div");
    name.className = "span-name";
    name.style.paddingLeft = `${span.depth * 12}px`;
    name.textContent = `${span.service} · ${span.name}` + (span.links.length ? ` (links ${span.links.length})` : "");
    const track = document.createElement("div");
    track.className = "span-track";
    const bar = document.createElement("div");
    bar.className = "span-bar" + (span.error ? " error" : "");
    bar.style.left = `${(span.offset_ms / total) * 100}%`;
    bar.style.width = `${Math.max((span.duration_ms / total) * 100, 0.2)}%`;
    track.appendChild(bar);
    const dur = document.createElement("div");
    dur.className = "span-dur";
    dur.textContent = `${span.duration_ms.toFixed(2)} ms`;
    row.append(name, track, dur);
    row.addEventListener("click", () => {
      const detail = $("span-detail");
      detail.hidden = false;
      detail.textContent = JSON.stringify({ kind: span.kind, status: span.status, offset_ms: span.offset_ms,
        links: span.links, attributes: span.attributes }, null, 2);
    });
    timeline.appendChild(row);
  }
  $("logs").textContent = doc.logs.length
    ? doc.logs.map((l) => `${l.file}: ${l.line}`).join("\n") : "(no log lines carry this trace id)";
  $("trace-panel").scrollIntoView({ behavior: "instant", block: "start" });
}

async function search() {
  showError(null);
  const query = rangeQuery();
  try {
    const [graph, rows] = await Promise.all([getJson(`/api/map?${query}`), getJson(`/api/traces?${query}`)]);
    drawMap(graph);
    listTraces(rows);
    document.body.dataset.ready = "yes";
  } catch (err) {
    showError(err);
    document.body.dataset.ready = "error";
  }
}

async function loadGroups(selected) {
  const groups = await getJson("/api/groups");
  const select = $("groups");
  select.replaceChildren(new Option("(none)", ""));
  for (const [name, expression] of Object.entries(groups)) {
    const option = new Option(name, name);
    option.dataset.expression = expression;
    select.appendChild(option);
  }
  select.value = selected || "";
}

// For page tests and the curious: how many nodes the map draws.
window.cytoscapeNodes = () => (cy ? cy.nodes().length : 0);

document.addEventListener("DOMContentLoaded", () => {
  $("query").addEventListener("submit", (event) => { event.preventDefault(); search(); });
  $("range").addEventListener("change", () => { $("custom").hidden = $("range").value !== "custom"; });
  $("groups").addEventListener("change", () => {
    const option = $("groups").selectedOptions[0];
    if (option && option.dataset.expression) { $("filter").value = option.dataset.expression; search(); }
  });
  $("save-group").addEventListener("click", async () => {
    const name = prompt("Group name");
    if (!name) return;
    try {
      await getJson(`/api/groups/${encodeURIComponent(name)}`, { method: "PUT",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ expression: $("filter").value }) });
      await loadGroups(name);
      showError(null);
    } catch (err) { showError(err); }
  });
  $("delete-group").addEventListener("click", async () => {
    const name = $("groups").value;
    if (!name) return;
    await getJson(`/api/groups/${encodeURIComponent(name)}`, { method: "DELETE" });
    await loadGroups("");
  });
  const initial = new URLSearchParams(location.search).get("filter");
  if (initial) $("filter").value = initial;
  loadGroups("").then(search);
});
