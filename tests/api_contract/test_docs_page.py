"""The API docs page works without the internet: every asset it loads is one of ours."""

import re

from django.contrib.staticfiles import finders
from django.test import Client


def test_swagger_ui_loads_only_local_static_files():
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"#][^"]*)"', response.content.decode())
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    for asset in assets:
        if asset.startswith("/api/docs/"):
            # The start-up script, served by the docs view itself (no inline script: CSP).
            script = Client().get(asset)
            assert script.status_code == 200 and b"SwaggerUIBundle" in script.content
            continue
        assert asset.startswith("/static/"), f"{asset} comes from elsewhere"
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not shipped"
