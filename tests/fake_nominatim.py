"""A local HTTP server that answers like Nominatim's /search, for the real geopy client."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# Recorded answers: address -> (lat, lon, display name).
PLACES = {
    "彭城市中山北路 1 号": ("34.2667", "117.1861", "中山北路 1 号, 彭城市"),
    "dongshan bus station": ("34.3012", "117.4520", "Dongshan Bus Station, Dongshan County"),
}
SLOW_WORD = "slow"
SLOW_SECONDS = 30.0  # far past the fixture timeout; the thread is a daemon


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        url = urlsplit(self.path)
        query = parse_qs(url.query).get("q", [""])[0]
        self.server.queries.append(query)
        if url.path != "/search":
            self.send_error(404)
            return
        if SLOW_WORD in query:
            time.sleep(SLOW_SECONDS)
        hit = PLACES.get(query.strip().lower()) or PLACES.get(query.strip())
        body = []
        if hit:
            lat, lon, name = hit
            body = [
                {
                    "place_id": 1,
                    "lat": lat,
                    "lon": lon,
                    "display_name": name,
                    "boundingbox": [lat, lat, lon, lon],
                    "class": "place",
                    "type": "house",
                }
            ]
        data = json.dumps(body).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout case)

    def log_message(self, *args):
        pass


def start() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.queries = []
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server
