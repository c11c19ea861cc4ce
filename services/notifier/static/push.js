// Subscribes this browser to Web Push and registers the subscription with the notifier. The
// access token comes from the visitor's accounts session (an HttpOnly cookie); a visitor
// without one is sent to the sign-in page and back here.
"use strict";
(function () {
  const SCOPE = "/notifier/push/";
  const API = "/notifier/webpush";
  const SIGNIN = "/accounts/signin?return=" + encodeURIComponent(location.pathname);
  const statusBox = document.getElementById("status");
  let accessToken = null;
  let expiresAt = 0;

  function show(text, state) {
    statusBox.textContent = text;
    statusBox.dataset.state = state || "";
  }

  // The VAPID key arrives as base64url; PushManager wants the raw bytes.
  function keyBytes(base64url) {
    const base64 = (base64url + "=".repeat((4 - (base64url.length % 4)) % 4))
      .replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(base64);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function sameKey(subscription, key) {
    const current = subscription.options && subscription.options.applicationServerKey;
    if (!current) return false;
    const a = new Uint8Array(current);
    return a.length === key.length && a.every((v, i) => v === key[i]);
  }

  // A fresh access token from the session, or off to the sign-in page.
  async function token() {
    if (accessToken && Date.now() < expiresAt) return accessToken;
    const response = await fetch("/accounts/api/session/token", {
      method: "POST", credentials: "same-origin", cache: "no-store",
    });
    if (response.status === 401) {
      location.assign(SIGNIN);
      throw new Error("Signing you in...");
    }
    if (!response.ok) throw new Error("Sign-in is unavailable right now (HTTP " + response.status + ").");
    const answer = await response.json();
    accessToken = answer.access_token;
    expiresAt = Date.now() + answer.expires_in * 800; // renewed at 80 % of its life
    return accessToken;
  }

  async function call(method, path, body) {
    const response = await fetch(API + path, {
      method,
      headers: { "Authorization": "Bearer " + (await token()), "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok && response.status !== 404) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      throw new Error("HTTP " + response.status + ": " + detail);
    }
    return response;
  }

  async function enable() {
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
      throw new Error("This browser does not support Web Push.");
    }
    await token();
    const permission = await Notification.requestPermission();
    if (permission !== "granted") throw new Error("Notifications are " + permission + ".");
    show("Registering the service worker...");
    await navigator.serviceWorker.register(SCOPE + "sw.js", { scope: SCOPE });
    const registration = await navigator.serviceWorker.ready;
    const keyResponse = await fetch(API + "/vapid-public-key");
    if (!keyResponse.ok) throw new Error("Cannot read the server key (HTTP " + keyResponse.status + ").");
    const key = keyBytes((await keyResponse.json()).publicKey);
    let subscription = await registration.pushManager.getSubscription();
    if (subscription && !sameKey(subscription, key)) {
      await subscription.unsubscribe(); // made for another server key: useless now
      subscription = null;
    }
    if (!subscription) {
      show("Subscribing with the push service...");
      subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: key,
      });
    }
    await call("POST", "/subscriptions", subscription.toJSON());
    show("Notifications are on for this browser.", "ok");
  }

  async function disable() {
    const registration = await navigator.serviceWorker.getRegistration(SCOPE);
    const subscription = registration && (await registration.pushManager.getSubscription());
    if (!subscription) {
      show("This browser has no subscription.");
      return;
    }
    await call("DELETE", "/subscriptions?endpoint=" + encodeURIComponent(subscription.endpoint));
    await subscription.unsubscribe();
    show("Notifications are off for this browser.", "ok");
  }

  function guarded(action) {
    return () => action().catch((error) => show(error.message || String(error), "error"));
  }

  token().then(() => show("Signed in. Not subscribed yet.")).catch((error) => show(error.message, "error"));
  document.getElementById("enable").addEventListener("click", guarded(enable));
  document.getElementById("disable").addEventListener("click", guarded(disable));
})();
