// The field app's service worker: the app's own files are kept on the phone so that it opens
// without a network (its data, the last alerts and tasks, the app keeps itself). Network first,
// the kept copy when there is none; the API is never cached here.
const CACHE = "gh-field-app-v1";
const SHELL = ["/app/", "/assets/app/app.js", "/assets/app/app.css", "/assets/app/manifest.webmanifest",
  "/assets/app/icon.svg", "/assets/lib/html.js", "/assets/lib/text.js"];

self.addEventListener("install", (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (ev) => {
  ev.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  ev.respondWith(
    fetch(ev.request)
      .then((r) => {
        if (r.ok) {
          const copy = r.clone();
          caches.open(CACHE).then((c) => c.put(ev.request, copy));
        }
        return r;
      })
      .catch(() => caches.match(ev.request).then((r) => r || caches.match("/app/")))
  );
});
