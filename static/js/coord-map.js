// The coordinator's map: rings of the current area, sectors coloured by status, units, and a
// simple polygon drawing tool for a manual area (no plugin: taps add corners).
(function () {
  // Legend swatches take their colour here: the Content-Security-Policy allows no style="".
  document.querySelectorAll(".swatch[data-colour]").forEach(function (swatch) {
    swatch.style.background = swatch.dataset.colour;
  });
  var el = document.getElementById("coord-map");
  var dataEl = document.getElementById("map-data");
  if (!el || !dataEl || !window.L) { return; }
  var data = JSON.parse(dataEl.textContent);
  var map = L.map(el).setView(data.centre, 14);
  L.tileLayer(el.dataset.tiles, { maxZoom: 19 }).addTo(map);
  data.radii.forEach(function (r) {
    L.circle(data.centre, { radius: r, color: "#0d2a4a", weight: 1, fill: false, dashArray: "4 4" }).addTo(map);
  });
  L.circleMarker(data.centre, { radius: 6, color: "#cf222e" }).addTo(map);
  var sectorInput = document.getElementById("reassign-sector");
  fetch(data.sectors_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { return r.json(); })
    .then(function (geojson) {
      var top = 0;
      geojson.features.forEach(function (f) { top = Math.max(top, f.properties.probability || 0); });
      var layer = L.geoJSON(geojson, {
        style: function (f) {
          var c = data.colours[f.properties.status] || "#8c959f";
          // Unsearched ground is coloured by status; the opacity says how likely the person is
          // there now (the densest sector of the area is the most opaque).
          var p = f.properties.probability || 0;
          var shade = top > 0 ? 0.12 + 0.5 * Math.sqrt(p / top) : 0.35;
          return { color: c, weight: 1, fillColor: c, fillOpacity: f.properties.outside_jurisdiction ? 0.05 : shade };
        },
        onEachFeature: function (f, l) {
          var p = f.properties.probability;
          l.bindTooltip(f.properties.h3_index + " · " + f.properties.status + " · P " +
            (p === null || p === undefined ? "–" : (100 * p).toFixed(2) + "%"));
          l.on("click", function () { if (sectorInput) { sectorInput.value = f.properties.h3_index; } });
        }
      }).addTo(map);
      if (layer.getBounds().isValid()) { map.fitBounds(layer.getBounds()); }
    });
  data.units.forEach(function (u) {
    L.circleMarker([u.lat, u.lon], { radius: 5, color: "#0b5cad", fillOpacity: 0.9 })
      .bindTooltip(u.name + " · " + u.availability + " · " + u.open).addTo(map);
  });
  // Sightings: the public's tips in orange, others in purple; a confirmed one filled. Polled
  // every few seconds, so that a tip sent from the public page shows without a reload.
  var sightingLayer = L.layerGroup().addTo(map);
  function label(text) {
    // Leaflet writes a string tooltip as HTML: a tip's words are the public's, so as text only.
    var span = document.createElement("span");
    span.textContent = text;
    return span;
  }
  function drawSightings(points) {
    sightingLayer.clearLayers();
    points.forEach(function (p) {
      var colour = p.public ? "#e36209" : "#6e40c9";
      L.circleMarker([p.lat, p.lon], {
        radius: p.public ? 7 : 5, color: colour, fillColor: colour,
        fillOpacity: p.confirmed ? 0.9 : 0.2, dashArray: p.confirmed ? null : "3 3"
      }).bindTooltip(label(p.at + " · " + p.kind + " · " + p.text)).addTo(sightingLayer);
    });
  }
  drawSightings(data.sightings || []);
  var tipsList = document.getElementById("tips-list");
  var tipTemplate = document.getElementById("tip-template");
  var noneTemplate = document.getElementById("tips-none-template");
  var shownTips = tipsList ? Array.prototype.map.call(
    tipsList.querySelectorAll("[data-tip]"), function (li) { return li.dataset.tip; }).join(",") : "";
  function slot(node, name) { return node.querySelector('[data-slot="' + name + '"]'); }
  function drawTips(tips) {
    if (!tipsList || !tipTemplate || !data.triage) { return; }
    var ids = tips.map(function (t) { return String(t.id); }).join(",");
    if (ids === shownTips) { return; }  // unchanged: leave the buttons alone
    shownTips = ids;
    tipsList.textContent = "";
    if (!tips.length && noneTemplate) {
      tipsList.appendChild(noneTemplate.content.cloneNode(true));
      return;
    }
    tips.forEach(function (t) {
      var item = tipTemplate.content.firstElementChild.cloneNode(true);
      item.dataset.tip = t.id;
      slot(item, "at").textContent = t.at;
      slot(item, "received").textContent = t.received;
      slot(item, "source").textContent = t.source;
      slot(item, "source-part").hidden = !t.source;
      slot(item, "description").textContent = t.description;
      var phone = slot(item, "phone");
      phone.textContent = t.phone;
      phone.href = "tel:" + t.phone;
      slot(item, "phone-part").hidden = !t.phone;
      slot(item, "no-phone").hidden = !!t.phone;
      slot(item, "photo").href = t.photo_url || "#";
      slot(item, "photo-part").hidden = !t.photo_url;
      item.querySelector("form").action = t.confirm_url;
      tipsList.appendChild(item);
    });
  }
  function poll() {
    if (document.hidden || !data.sightings_url) { return; }
    fetch(data.sightings_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (fresh) {
        if (!fresh) { return; }
        drawSightings(fresh.sightings);
        drawTips(fresh.tips);
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  }
  window.setInterval(poll, 10000);
  // Drawing a manual area.
  var start = document.getElementById("draw-start"), clear = document.getElementById("draw-clear");
  var field = document.getElementById("draw-area");
  if (!start || !field) { return; }
  var drawing = false, corners = [], shape = null;
  function redraw() {
    if (shape) { map.removeLayer(shape); }
    shape = corners.length ? L.polygon(corners, { color: "#cf222e" }).addTo(map) : null;
    if (corners.length >= 3) {
      var ring = corners.map(function (c) { return [c.lng, c.lat]; });
      ring.push(ring[0]);
      field.value = JSON.stringify({ type: "Polygon", coordinates: [ring] });
    } else { field.value = ""; }
  }
  start.addEventListener("click", function () { drawing = true; corners = []; redraw(); });
  clear.addEventListener("click", function () { drawing = false; corners = []; redraw(); });
  map.on("click", function (e) { if (drawing) { corners.push(e.latlng); redraw(); } });
})();
