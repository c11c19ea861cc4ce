// Subscribes this browser to Web Push and registers the subscription with the notifier.
"use strict";
(function () {
  const SCOPE = "/notifier/push/";
  const API = "/notifier/webpush";
  const TOKEN_KEY = "surge.jwt";
  const tokenField = document.getElementById("token");
  const statusBox = document.getElementById("status");

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

  function token() {
    const value = tokenField.value.trim();
    if (!value) throw new Error("Enter your access token first.");
    localStorage.setItem(TOKEN_KEY, value);
    return value;
  }

  async function call(method, path, body) {
    const response = await fetch(API + path, {
      method,
      headers: { "Authorization": "Bearer " + token(), "Content-Type": "application/json" },
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
    token();
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

  tokenField.value = localStorage.getItem(TOKEN_KEY) || "";
  document.getElementById("enable").addEventListener("click", guarded(enable));
  document.getElementById("disable").addEventListener("click", guarded(disable));
})();
