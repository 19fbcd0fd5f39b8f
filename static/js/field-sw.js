// Field app service worker: the app shell and the last pages seen stay usable offline.
// Only GET requests are cached; actions go through the page's own outbox.
var CACHE = "beacon-field-v1";
var SHELL = ["/field/", "/static/css/beacon.css", "/static/js/field.js",
             "/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/leaflet.css"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (c) { return c.addAll(SHELL); }).then(function () { return self.skipWaiting(); }));
});
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("fetch", function (event) {
  var request = event.request, url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) { return; }
  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(caches.match(request).then(function (hit) {
      return hit || fetch(request).then(function (r) {
        var copy = r.clone();
        caches.open(CACHE).then(function (c) { c.put(request, copy); });
        return r;
      });
    }));
    return;
  }
  if (url.pathname.indexOf("/field/") === 0) {
    // Network first, so the task list is fresh whenever there is a connection.
    event.respondWith(fetch(request).then(function (r) {
      if (r.ok && !r.redirected) {
        var copy = r.clone();
        caches.open(CACHE).then(function (c) { c.put(request, copy); });
      }
      return r;
    }).catch(function () {
      return caches.match(request).then(function (hit) { return hit || caches.match("/field/"); });
    }));
  }
});
