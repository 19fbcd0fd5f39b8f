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
      var layer = L.geoJSON(geojson, {
        style: function (f) {
          var c = data.colours[f.properties.status] || "#8c959f";
          return { color: c, weight: 1, fillColor: c, fillOpacity: f.properties.outside_jurisdiction ? 0.05 : 0.35 };
        },
        onEachFeature: function (f, l) {
          l.bindTooltip(f.properties.h3_index + " · " + f.properties.status + " · " + f.properties.weight.toFixed(4));
          l.on("click", function () { if (sectorInput) { sectorInput.value = f.properties.h3_index; } });
        }
      }).addTo(map);
      if (layer.getBounds().isValid()) { map.fitBounds(layer.getBounds()); }
    });
  data.units.forEach(function (u) {
    L.circleMarker([u.lat, u.lon], { radius: 5, color: "#0b5cad", fillOpacity: 0.9 })
      .bindTooltip(u.name + " · " + u.availability + " · " + u.open).addTo(map);
  });
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
