// Surge's Web Push service worker (the notifier's push page and the avatar page):
// shows pushed notifications and opens their link when clicked.
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let message = {};
  if (event.data) {
    try {
      message = event.data.json();
    } catch (error) {
      message = { body: event.data.text() };
    }
  }
  const title = message.title || message.event || "Surge";
  const options = {
    body: message.body || "",
    data: { url: message.url || "/", event: message.event, channel: message.channel },
  };
  if (message.channel && message.event) options.tag = message.channel + ":" + message.event;
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const wanted = (event.notification.data && event.notification.data.url) || "/";
  let target = new URL(wanted, self.location.origin);
  // Only open pages of this site: a pushed link must not send the user elsewhere.
  if (target.origin !== self.location.origin) target = new URL("/", self.location.origin);
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const client of windows) {
        if (client.url === target.href && "focus" in client) return client.focus();
      }
      return self.clients.openWindow ? self.clients.openWindow(target.href) : undefined;
    }),
  );
});
