// Pin the last-seen place: a click (or tap) on the map fills latitude/longitude; typing
// coordinates moves the pin. Works without tiles (offline), since the pin is what matters.
(function () {
  var el = document.getElementById("pin-map");
  if (!el || !window.L) { return; }
  var lat = document.getElementById("id_latitude");
  var lon = document.getElementById("id_longitude");
  var d = el.dataset;
  var map = L.map(el).setView([parseFloat(d.lat), parseFloat(d.lon)], parseInt(d.zoom, 10));
  L.tileLayer(d.tiles, { attribution: d.attribution, maxZoom: 19 }).addTo(map);
  var marker = null;
  function place(latlng, pan) {
    if (marker) { marker.setLatLng(latlng); } else { marker = L.marker(latlng).addTo(map); }
    if (pan) { map.panTo(latlng); }
  }
  function fromInputs() {
    var a = parseFloat(lat.value), b = parseFloat(lon.value);
    if (!isNaN(a) && !isNaN(b) && a >= -90 && a <= 90 && b >= -180 && b <= 180) { place([a, b], true); }
  }
  map.on("click", function (e) {
    lat.value = e.latlng.lat.toFixed(6);
    lon.value = e.latlng.lng.toFixed(6);
    place(e.latlng, false);
  });
  lat.addEventListener("change", fromInputs);
  lon.addEventListener("change", fromInputs);
  fromInputs();
})();
