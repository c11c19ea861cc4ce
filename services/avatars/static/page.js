// The avatar page: choose a file, upload it straight to its signed URL with progress, then
// hear the result by push: each state change on the notifier's WebSocket (`user:<sub>`,
// through the gateway's /ws), and the outcome by Web Push when the player subscribed (the
// service worker at /avatars/sw.js shows it). GET /avatars/uploads/<id> is read only when the
// socket is down. The user JWT in `?token=` is a demo convenience (kept in localStorage).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const query = new URLSearchParams(location.search);
  const TOKEN_KEY = "surge_user_token";
  let token = query.get("token");
  if (token) {
    localStorage.setItem(TOKEN_KEY, token);
    query.delete("token");
    history.replaceState(null, "", `${location.pathname}${query.size ? "?" + query : ""}`);
  } else {
    token = localStorage.getItem(TOKEN_KEY);
  }
  const auth = { Authorization: `Bearer ${token}` };
  const FINAL = new Set(["published", "rejected", "failed"]);
  let current = null; // the upload being followed
  let socket = null, socketUp = false, pollTimer = null, attempts = 0;
  window.avatarPage = { states: [], pushes: [] }; // what the page saw, for tests and debugging

  const say = (state, reason) => {
    $("state").textContent = state;
    $("reason").textContent = reason ? `(${reason})` : "";
  };

  async function call(method, path, body) {
    const init = { method, headers: { ...auth }, cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error(answer.detail || response.statusText), answer);
    return answer;
  }

  function show(update) {
    if (!current || update.upload_id !== current) return;
    window.avatarPage.states.push(update.state);
    say(update.state, update.reason);
    if (update.state === "published" && update.urls) {
      const url = update.urls["256x256"] || Object.values(update.urls).pop();
      $("current").src = url;
      $("preview").hidden = true;
    }
    if (FINAL.has(update.state)) stopPolling();
  }

  function upload(ticket, file) {
    // XMLHttpRequest, not fetch: only it reports upload progress.
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(ticket.method, ticket.url);
      let body = file;
      if (ticket.method === "POST") {
        body = new FormData();
        for (const [name, value] of Object.entries(ticket.fields)) body.append(name, value);
        body.append("file", file);
      } else {
        for (const [name, value] of Object.entries(ticket.headers)) xhr.setRequestHeader(name, value);
      }
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) $("progress").value = Math.round((100 * e.loaded) / e.total);
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) return resolve();
        let detail = xhr.statusText;
        try { detail = JSON.parse(xhr.responseText).detail || detail; } catch (e) { /* not JSON */ }
        reject(new Error(`${xhr.status}: ${detail}`));
      };
      xhr.onerror = () => reject(new Error("the upload was interrupted"));
      xhr.send(body);
    });
  }

  async function send(event) {
    event.preventDefault();
    const file = $("file").files[0];
    if (!file) return;
    $("send").disabled = true;
    $("progress").value = 0;
    say("asking for an upload URL");
    try {
      const created = await call("POST", "/avatars/uploads", { content_type: file.type || "image/jpeg" });
      current = created.id;
      say("uploading");
      await upload(created.upload, file);
      $("progress").value = 100;
      if (created.upload.method === "POST") await call("POST", `/avatars/uploads/${current}/complete`);
      $("preview").src = URL.createObjectURL(file);
      $("preview").hidden = false;
      if ($("state").textContent === "uploading") say("received");
      if (!socketUp) startPolling();
    } catch (error) {
      say("upload refused", error.message);
    } finally {
      $("send").disabled = false;
    }
  }

  function connect() {
    socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`,
      ["surge.v1", `bearer.${token}`]);
    socket.onopen = () => { attempts = 0; };
    socket.onmessage = (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      if (frame.type === "welcome") {
        socketUp = true;
        stopPolling();
        $("connection").textContent = "connected";
        $("who").textContent = `signed in as ${frame.user}`;
      } else if (frame.type === "publication" && frame.event === "avatars.upload") {
        show(frame.data);
      }
    };
    socket.onclose = () => {
      socketUp = false;
      $("connection").textContent = "reconnecting";
      if (current) startPolling();
      attempts += 1;
      setTimeout(connect, Math.min(30000, 500 * 2 ** attempts) * (0.5 + Math.random() / 2));
    };
  }

  function startPolling() {
    if (pollTimer || !current) return;
    pollTimer = setInterval(async () => {
      try {
        const status = await call("GET", `/avatars/uploads/${current}`);
        show({ upload_id: status.id, state: status.state, reason: status.reason, urls: status.urls });
      } catch (e) { /* keep trying */ }
    }, 2000);
  }

  function stopPolling() {
    if (pollTimer) clearInterval(pollTimer);
    pollTimer = null;
  }

  const b64 = (text) => {
    const raw = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  };

  async function enablePush() {
    try {
      if (!("serviceWorker" in navigator) || !("PushManager" in window)) throw new Error("not supported");
      const registration = await navigator.serviceWorker.register("/avatars/sw.js", { scope: "/avatars/" });
      await navigator.serviceWorker.ready;
      const { publicKey } = await call("GET", "/notifier/webpush/vapid-public-key");
      const subscription = (await registration.pushManager.getSubscription()) ||
        (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64(publicKey) }));
      await call("POST", "/notifier/webpush/subscriptions", subscription.toJSON());
      $("push").textContent = "on";
    } catch (error) {
      $("push").textContent = `unavailable (${error.message})`;
    }
    window.avatarPage.pushes.push($("push").textContent);
  }

  async function showCurrent() {
    try {
      const mine = await call("GET", "/avatars/me");
      $("current").src = mine.urls["256x256"] || Object.values(mine.urls).pop();
    } catch (e) { /* no avatar yet */ }
  }

  $("file").addEventListener("change", () => { $("send").disabled = !$("file").files.length; });
  $("form").addEventListener("submit", send);
  $("enable-push").addEventListener("click", enablePush);
  if (!token) {
    say("sign in first", "open this page with ?token=<your JWT>");
    return;
  }
  showCurrent();
  connect();
})();
