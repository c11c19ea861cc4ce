// The waiting room page: join, then listen on the notifier's WebSocket (through the gateway's
// /ws) and update by push: the visitor's own `user:<sub>` channel and the public `zone:<id>`
// channel (paused, resumed, closed, sold out). REST is used to join, to renew the place, to
// fetch the access token once admission is pushed, to read the zone's state once when the zone
// channel is first subscribed (what happened before is not pushed), and to reload after a gap
// the socket could not recover; the status is polled only while the socket is down.
"use strict";
(() => {
  const body = document.body;
  const query = new URLSearchParams(location.search);
  const zone = body.dataset.zone || query.get("zone");
  const back = body.dataset.return || "/";
  const $ = (id) => document.getElementById(id);
  const api = `/waitingroom/zones/${encodeURIComponent(zone)}`;
  // The visitor's access token comes from their accounts session (an HttpOnly cookie): a
  // visitor without one is sent to sign in and comes back here. Tokens never go in the URL.
  const SIGNIN = `/accounts/signin?return=${encodeURIComponent(location.pathname + location.search)}`;
  let token = null, tokenTimer = null;

  async function signedIn() {
    const response = await fetch("/accounts/api/session/token", {
      method: "POST", credentials: "same-origin", cache: "no-store",
    });
    if (response.status === 401) {
      say("Signing you in…");
      location.assign(SIGNIN);
      return false;
    }
    if (!response.ok) throw new Error("Sign-in is unavailable right now; reload in a moment.");
    const answer = await response.json();
    token = answer.access_token;
    // Before it expires: a fresh one, handed to the open socket too (an `auth` message).
    clearTimeout(tokenTimer);
    tokenTimer = setTimeout(() => signedIn().then((ok) => {
      if (ok && socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "auth", token }));
    }).catch(() => {}), Math.max(5, answer.expires_in * 0.8) * 1000);
    return true;
  }

  const stream = { offset: null, epoch: null }; // of user:<sub>, for recovery
  const zoneChannel = `zone:${zone}`;
  const zoneStream = { offset: null, epoch: null }; // of zone:<id>, for recovery
  let socket = null, attempts = 0, done = false, pollTimer = null, renewTimer = null;
  let firstAhead = null, secondsPerPlace = null;
  let paused = false, inLine = "You are in line.", zoneEvents = 0;

  const PAUSED = "Admission is paused for a moment.";
  const say = (text) => { $("status").textContent = text; };
  const connection = (text) => { $("connection").textContent = text; };

  async function call(method, path) {
    const response = await fetch(api + path, {
      method, headers: { Authorization: `Bearer ${token}` }, cache: "no-store",
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error(answer.detail || response.statusText), answer);
    return answer;
  }

  function show(status) {
    const { state } = status;
    if (state === "admitted") return admitted(status);
    if (state === "waiting" || state === "prequeue") {
      position(status.position, status.ahead, status.eta_seconds);
      inLine = state === "prequeue" ? "The sale has not opened yet: you are in the pre-queue." :
        "You are in line.";
      say(paused ? PAUSED : inLine);
      scheduleRenew(status.renew_before);
      return;
    }
    done = true;
    say({ completed: "You are done: thank you.", expired: "Your place or your turn has expired.",
      sold_out: "Sold out.", closed: "The waiting room is closed." }[state] || state);
  }

  function position(pos, ahead, eta) {
    if (typeof ahead !== "number") return;
    if (firstAhead === null || ahead > firstAhead) firstAhead = ahead;
    if (typeof eta === "number" && ahead > 0) secondsPerPlace = eta / ahead;
    const estimate = typeof eta === "number" ? eta :
      secondsPerPlace === null ? null : secondsPerPlace * ahead;
    $("position").textContent = String(pos);
    $("ahead").textContent = String(ahead);
    $("eta").textContent = estimate === null ? "-" : estimate < 60 ? "under a minute" :
      `about ${Math.round(estimate / 60)} min`;
    $("progress").value = firstAhead ? Math.round(100 * (1 - ahead / (firstAhead + 1))) : 0;
  }

  function admitted(status) {
    done = true;
    clearTimeout(renewTimer);
    $("waiting").hidden = true;
    $("turn").hidden = false;
    $("expires").textContent = new Date(status.expires_at * 1000).toLocaleTimeString();
    $("continue").onclick = () => {
      const maxAge = Math.max(1, Math.floor(status.expires_at - Date.now() / 1000));
      document.cookie = `surge_access_${zone}=${status.access_token}; path=/; ` +
        `max-age=${maxAge}; samesite=lax${location.protocol === "https:" ? "; secure" : ""}`;
      location.assign(back);
    };
  }

  function scheduleRenew(renewBefore) {
    clearTimeout(renewTimer);
    if (typeof renewBefore !== "number") return;
    // Half-way to the deadline; between 5 s and 10 min (setTimeout overflows past 2^31 ms).
    const wait = Math.min(600, Math.max(5, (renewBefore - Date.now() / 1000) / 2)) * 1000;
    renewTimer = setTimeout(() => call("POST", "/renew").then(show).catch(() => {}), wait);
  }

  const reload = () => call("GET", "/status").then(show).catch((e) => say(e.message));

  // The zone's state as pushed on zone:<id> (or read once, see zoneSnapshot).
  function zoneState(state) {
    if (done) return undefined; // admitted, expired, closed...: the final state stays shown
    if (state === "closed" || state === "sold_out") return reload(); // shows the final state
    paused = state === "paused";
    return say(paused ? PAUSED : inLine);
  }

  // The zone's state when its channel was subscribed without recovery: pushes before that were
  // not heard. A push arriving meanwhile is newer than this answer, which is then dropped.
  function zoneSnapshot() {
    const seen = zoneEvents;
    call("GET", "").then((info) => { if (zoneEvents === seen) zoneState(info.status); })
      .catch(() => {});
  }

  function onPush(message) {
    if (message.channel === zoneChannel) {
      zoneStream.offset = message.offset; zoneStream.epoch = message.epoch;
      zoneEvents += 1;
      const state = { "waitingroom.paused": "paused", "waitingroom.resumed": "open",
        "waitingroom.closed": "closed", "waitingroom.sold_out": "sold_out" }[message.event];
      return state === undefined ? undefined : zoneState(state);
    }
    if (message.channel && message.channel.startsWith("user:")) {
      stream.offset = message.offset; stream.epoch = message.epoch;
    }
    const data = message.data || {};
    switch (message.event) {
      case "waitingroom.position": return position(data.position, data.ahead, null);
      case "waitingroom.admitted": return reload(); // the token itself never travels by push
      case "waitingroom.expired": return reload();
      default: return undefined;
    }
  }

  function subscribeZone() {
    // With the zone channel's last offset after a drop: the notifier replays what was missed.
    const recover = zoneStream.offset === null ? undefined :
      { offset: zoneStream.offset, epoch: zoneStream.epoch };
    socket.send(JSON.stringify({ type: "subscribe", channel: zoneChannel, recover }));
  }

  function connect() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    const recovering = stream.offset !== null;
    // First time: the token in the subprotocol. After a drop: an `auth` message with `recover`.
    socket = new WebSocket(url, recovering ? ["surge.v1"] : ["surge.v1", `bearer.${token}`]);
    socket.onopen = () => {
      if (recovering) {
        socket.send(JSON.stringify({ type: "auth", token,
          recover: { offset: stream.offset, epoch: stream.epoch } }));
      }
    };
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "welcome") {
        attempts = 0; connection("connected"); clearInterval(pollTimer); pollTimer = null;
        subscribeZone();
      } else if (message.type === "subscribed" && message.channel === zoneChannel) {
        if (zoneStream.offset === null) {
          zoneStream.offset = message.offset; zoneStream.epoch = message.epoch;
          zoneSnapshot();
        }
      } else if (message.type === "subscribed" && message.channel.startsWith("user:")) {
        if (stream.offset === null) { stream.offset = message.offset; stream.epoch = message.epoch; }
      } else if (message.type === "publication") {
        onPush(message);
      } else if (message.type === "recover_failed" && message.channel === zoneChannel) {
        zoneStream.offset = message.offset; zoneStream.epoch = message.epoch;
        zoneEvents += 1; // an answer already on its way predates the gap
        zoneSnapshot(); // the gap is unknown: read the zone's state once, then carry on
      } else if (message.type === "recover_failed") {
        stream.offset = message.offset; stream.epoch = message.epoch;
        reload(); // the gap is unknown: reload the state over REST once, then carry on
      }
    };
    socket.onclose = (event) => {
      socket = null;
      if (done) return connection("done");
      if (event.code === 4001) return connection("sign-in token refused");
      if (event.code === 4002) { // expired while away (a sleeping laptop): a fresh one, reconnect
        signedIn().then((ok) => { if (ok) connect(); }).catch(() => connection("disconnected"));
        return undefined;
      }
      connection("reconnecting");
      if (pollTimer === null) pollTimer = setInterval(reload, 15000); // only while disconnected
      const delay = Math.min(30000, 500 * 2 ** attempts++) * (0.5 + Math.random() / 2);
      setTimeout(connect, delay);
    };
  }

  setInterval(() => { if (socket && socket.readyState === 1) socket.send('{"type":"ping"}'); }, 25000);

  if (!zone) { say("No zone given."); return; }
  signedIn().then((ok) => {
    if (!ok) return undefined;
    return call("POST", "/join").then((status) => { show(status); if (!done) connect(); });
  }).catch((e) => { done = true; say(e.message); });
})();
