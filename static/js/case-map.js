// Show the last-seen point of a case on a small map.
(function () {
  var el = document.getElementById("case-map");
  if (!el || !window.L) { return; }
  var d = el.dataset, at = [parseFloat(d.lat), parseFloat(d.lon)];
  var map = L.map(el).setView(at, 14);
  L.tileLayer(d.tiles, { attribution: d.attribution, maxZoom: 19 }).addTo(map);
  L.marker(at).addTo(map);
})();
