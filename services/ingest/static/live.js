// The live campaign page: read the program's channel once (with the sign-in token), then listen
// on the notifier's WebSocket through the gateway; every figure arrives by push, none is polled.
"use strict";
(() => {
  const program = document.body.dataset.program;
  const params = new URLSearchParams(location.search);
  if (params.has("token")) {
    localStorage.setItem("surge_token", params.get("token"));
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : ""));
  }
  const token = localStorage.getItem("surge_token");
  const el = (id) => document.getElementById(id);
  const totals = { hits: 0, clicks: 0, conversions: 0, bad_rows: 0 };
  let attempts = 0, socket = null, channel = null, offset = null, epoch = null;

  const fmt = (n) => (Math.round(n * 10) / 10).toLocaleString("en");
  function show(data) {
    el("hits").textContent = fmt(data.hits_per_second);
    el("clicks").textContent = fmt(data.clicks_per_second);
    el("conversions").textContent = fmt(data.conversions_per_second);
    el("bots").textContent = `${Math.round(data.bot_share * 1000) / 10} %`;
    el("bad").textContent = fmt(data.bad_rows_per_second);
    for (const k of Object.keys(totals)) totals[k] += (data.counts || {})[k] || 0;
    el("totals").textContent = `${totals.hits} hits, ${totals.clicks} clicks, ` +
      `${totals.conversions} conversions, ${totals.bad_rows} bad rows`;
    el("updated").textContent = new Date(data.at * 1000).toLocaleTimeString();
  }

  function connect(info) {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    socket = new WebSocket(url, ["surge.v1", `bearer.${token}`]);
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "welcome") {
        attempts = 0;
        el("connection").textContent = "connected";
        const recover = offset === null ? undefined : { offset, epoch };
        socket.send(JSON.stringify({ type: "subscribe", channel, recover }));
      } else if (message.type === "subscribed" && message.channel === channel) {
        el("connection").textContent = "live";
      } else if (message.type === "publication" && message.channel === channel) {
        offset = message.offset; epoch = message.epoch;
        if (message.event === info.event) show(message.data);
      } else if (message.type === "error") {
        el("status").textContent = message.message || "refused";
      }
    };
    socket.onclose = (event) => {
      socket = null;
      if (event.code === 4001 || event.code === 4002) {
        el("connection").textContent = "sign-in token refused";
        return;
      }
      el("connection").textContent = "reconnecting";
      const delay = Math.min(30000, 500 * 2 ** attempts++) * (0.5 + Math.random() / 2);
      setTimeout(() => connect(info), delay);
    };
  }
  setInterval(() => { if (socket && socket.readyState === 1) socket.send('{"type":"ping"}'); }, 25000);

  if (!token) return;
  fetch(`/t/live/${encodeURIComponent(program)}/info`, {
    headers: { Authorization: `Bearer ${token}` }, cache: "no-store",
  }).then(async (response) => {
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
    return body;
  }).then((info) => {
    channel = info.channel;
    el("title").textContent = info.name;
    el("status").textContent = `Advertiser ${info.advertiser}: figures every ${info.interval_seconds} s.`;
    connect(info);
  }).catch((e) => { el("status").textContent = e.message; el("connection").textContent = "-"; });
})();
