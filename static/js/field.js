// Field app: actions go through an outbox on the phone (IndexedDB) and are sent at once when
// there is a connection, or replayed when it returns. Each carries an id made here, so the
// server applies it once however often it is sent.
(function () {
  "use strict";
  var script = document.currentScript;
  var ACTION = script.dataset.action;
  var TEXT = { offline: script.dataset.offline, waiting: script.dataset.waiting,
               sent: script.dataset.sent, expired: script.dataset.expired };
  var DB_NAME = "beacon-field", STORE = "outbox", CACHE = "beacon-field-v1";
  var flushing = false;

  function uuid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  // --- the outbox ------------------------------------------------------------------------------
  function openDb() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = function () { req.result.createObjectStore(STORE, { keyPath: "client_id" }); };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }
  function tx(mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(STORE, mode), store = t.objectStore(STORE), out = work(store);
        t.oncomplete = function () { db.close(); resolve(out && out.result); };
        t.onerror = function () { db.close(); reject(t.error); };
      });
    });
  }
  var put = function (item) { return tx("readwrite", function (s) { return s.put(item); }); };
  var remove = function (id) { return tx("readwrite", function (s) { return s.delete(id); }); };
  var all = function () { return tx("readonly", function (s) { return s.getAll(); }); };

  function renderOutbox() {
    return all().then(function (items) {
      var box = document.getElementById("outbox"), list = document.getElementById("outbox-list");
      if (!box || !list) { return; }
      list.textContent = "";
      items.sort(function (a, b) { return a.created - b.created; }).forEach(function (item) {
        var li = document.createElement("li");
        li.className = "pending";
        li.textContent = item.label + " · " + TEXT.waiting;
        li.dataset.clientId = item.client_id;
        list.appendChild(li);
      });
      box.hidden = items.length === 0;
    });
  }
  function flash(text, ok) {
    var el = document.getElementById("flash");
    if (!el) { return; }
    var p = document.createElement("p");
    p.className = ok ? "flash-ok" : "flash-error";
    p.setAttribute("role", ok ? "status" : "alert");
    p.textContent = text;
    el.appendChild(p);
  }
  function netState(online) {
    var bar = document.getElementById("net-status");
    if (!bar) { return; }
    bar.hidden = online;
    bar.textContent = online ? "" : TEXT.offline;
  }

  function send(item) {
    var fd = new FormData();
    item.fields.forEach(function (f) { fd.append(f[0], f[1]); });
    item.files.forEach(function (f) { fd.append(f[0], f[1], f[2]); });
    return fetch(ACTION, {
      method: "POST", body: fd, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrf() }
    }).then(function (r) {
      return r.json().catch(function () { return { ok: false, error: "HTTP " + r.status }; })
        .then(function (body) { return { status: r.status, body: body }; });
    });
  }

  // Send what waits, oldest first. A network failure stops the round (try again later); any
  // answer from the server, yes or no, ends the item: a refusal is shown, never dropped silently.
  function flush() {
    if (flushing) { return Promise.resolve(); }
    flushing = true;
    var changed = false;
    return all().then(function (items) {
      items.sort(function (a, b) { return a.created - b.created; });
      var chain = Promise.resolve(true);
      items.forEach(function (item) {
        chain = chain.then(function (go) {
          if (!go) { return false; }
          return send(item).then(function (res) {
            netState(true);
            return remove(item.client_id).then(function () {
              if (res.body.ok) { changed = true; flash(item.label + ": " + (res.body.message || TEXT.sent), true); }
              else { flash(item.label + ": " + (res.body.error || ("HTTP " + res.status)), false); }
              return true;
            });
          }, function () { netState(false); return false; });
        });
      });
      return chain;
    }).then(function () {
      flushing = false;
      return renderOutbox();
    }, function () { flushing = false; }).then(function () {
      if (changed && document.body.dataset.reloadOnChange !== "no") {
        setTimeout(function () { window.location.reload(); }, 1200);
      }
    });
  }

  function queueForm(form) {
    var fd = new FormData(form), button = form.querySelector("[type=submit]");
    var id = fd.get("client_id") || uuid();
    var item = { client_id: id, kind: fd.get("kind"), created: Date.now(), fields: [], files: [],
                 label: (button ? button.textContent : fd.get("kind")).trim() };
    fd.forEach(function (value, key) {
      if (value instanceof File) { if (value.size) { item.files.push([key, value, value.name]); } }
      else { item.fields.push([key, key === "client_id" ? id : value]); }
    });
    var idField = form.querySelector("[name=client_id]");
    if (idField) { idField.value = uuid(); }  // the next submission is another action
    // Into the outbox first: if the page dies while sending, nothing is lost.
    return put(item).then(renderOutbox).then(flush);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-queue") || !window.indexedDB) { return; }
    event.preventDefault();
    queueForm(form).then(function () { form.reset && form.dataset.keep !== "yes" && form.reset(); });
  });

  // --- countdowns, maps and positions --------------------------------------------------------------
  function tick() {
    document.querySelectorAll("[data-expires]").forEach(function (el) {
      var left = Math.round((new Date(el.dataset.expires) - new Date()) / 1000);
      if (left <= 0) { el.textContent = TEXT.expired; el.classList.add("danger"); return; }
      var m = Math.floor(left / 60), s = ("0" + (left % 60)).slice(-2);
      el.textContent = m + ":" + s;
    });
  }
  function fillPosition(lat, lon) {
    document.querySelectorAll("[data-geo=lat]").forEach(function (el) { el.value = lat.toFixed(6); });
    document.querySelectorAll("[data-geo=lon]").forEach(function (el) { el.value = lon.toFixed(6); });
  }
  document.addEventListener("click", function (event) {
    if (!event.target.hasAttribute("data-use-position") || !navigator.geolocation) { return; }
    navigator.geolocation.getCurrentPosition(function (p) { fillPosition(p.coords.latitude, p.coords.longitude); });
  });
  var mapData = document.getElementById("task-map-data");
  if (mapData && window.L) {
    var data = JSON.parse(mapData.textContent);
    var map = L.map("task-map").setView(data.centre, 16);
    var tiles = document.getElementById("task-map").dataset.tiles;
    if (tiles) { L.tileLayer(tiles, { maxZoom: 19 }).addTo(map); }
    var sector = L.polygon(data.sector, { color: "#8250df" }).addTo(map);
    map.fitBounds(sector.getBounds());
    if (data.unit) { L.circleMarker(data.unit, { radius: 7, color: "#0b5cad" }).addTo(map); }
    map.on("click", function (e) { fillPosition(e.latlng.lat, e.latlng.lng); });
  }
  // While on duty, share the position about once a minute (latest only; never queued).
  var state = document.getElementById("position-state");
  if (state && state.dataset.units && navigator.geolocation) {
    var last = 0;
    navigator.geolocation.watchPosition(function (p) {
      if (Date.now() - last < 60000) { return; }
      last = Date.now();
      state.textContent = state.dataset.on;
      state.dataset.units.split(",").forEach(function (unit) {
        var fd = new FormData();
        [["kind", "position"], ["unit", unit], ["client_id", uuid()], ["lat", p.coords.latitude],
         ["lon", p.coords.longitude], ["accuracy", p.coords.accuracy]].forEach(function (f) { fd.append(f[0], f[1]); });
        fetch(ACTION, { method: "POST", body: fd, credentials: "same-origin",
                        headers: { "Accept": "application/json", "X-CSRFToken": csrf() } }).catch(function () {});
      });
    }, function () { state.textContent = state.dataset.off; }, { enableHighAccuracy: true, maximumAge: 30000 });
  }

  // Signing out clears what this phone kept (task pages, the outbox): personal data stays off it.
  document.addEventListener("submit", function (event) {
    if (event.target.id !== "logout-form") { return; }
    if ("caches" in window) { caches.delete(CACHE); }
    if (window.indexedDB) { indexedDB.deleteDatabase(DB_NAME); }
    if (navigator.serviceWorker) {
      navigator.serviceWorker.getRegistrations().then(function (rs) { rs.forEach(function (r) { r.unregister(); }); });
    }
  }, true);

  window.addEventListener("online", function () { netState(true); flush(); });
  window.addEventListener("offline", function () { netState(false); });
  netState(navigator.onLine);
  setInterval(tick, 1000); tick();
  setInterval(flush, 15000);
  renderOutbox().then(flush);
  if (navigator.serviceWorker && script.dataset.sw) {
    navigator.serviceWorker.register(script.dataset.sw, { scope: "/field/" }).catch(function () {});
  }
  window.beaconField = { flush: flush, outbox: all };
})();
