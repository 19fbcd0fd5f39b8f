// The public alert page: draws the rough area and lets a tap or the phone's position fill the
// tip's coordinates. Everything works without it: the place can be typed instead.
(function () {
  "use strict";
  document.documentElement.classList.add("has-js");
  var lat = document.getElementById("id_lat");
  var lon = document.getElementById("id_lon");
  var state = document.getElementById("position-state");
  var el = document.getElementById("public-map");
  var marker = null;
  var map = null;

  function place(latitude, longitude, label) {
    if (lat && lon) {
      lat.value = latitude.toFixed(5);
      lon.value = longitude.toFixed(5);
    }
    if (state && label) state.textContent = label;
    if (map) {
      if (marker) marker.setLatLng([latitude, longitude]);
      else marker = L.marker([latitude, longitude]).addTo(map);
    }
  }

  if (el && window.L) {
    var centre = [parseFloat(el.dataset.lat), parseFloat(el.dataset.lon)];
    var km = parseFloat(el.dataset.radiusKm) || 10;
    map = L.map(el).setView(centre, km > 150 ? 6 : km > 40 ? 8 : 10);
    L.tileLayer(el.dataset.tiles, { attribution: el.dataset.attribution, maxZoom: 18 }).addTo(map);
    L.circle(centre, { radius: km * 1000, color: "#c0392b", weight: 2, fillOpacity: 0.05 }).addTo(map);
    map.on("click", function (e) {
      place(e.latlng.lat, e.latlng.lng, el.dataset.tapped || "");
    });
  }

  var button = document.getElementById("use-position");
  if (button && navigator.geolocation) {
    button.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(
        function (p) { place(p.coords.latitude, p.coords.longitude, "✓"); },
        function () { if (state) state.textContent = "✗"; },
        { enableHighAccuracy: true, timeout: 15000 }
      );
    });
  } else if (button) {
    button.hidden = true;
  }
})();
