"""Production settings, the Content-Security-Policy, body limits and what is never served."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import Resolver404, resolve

from accounts.models import User
from search.models import Case
from search.services import intake
from search.services.timeline import Origin
from tests.routes import all_routes
from tests.search.intake_data import service_values

ROOT = Path(__file__).resolve().parent.parent
# The production environment README gives ("Deploying for real").
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 20 + "-a-long-random-production-secret-" + "z" * 20,
    "ALLOWED_HOSTS": "beacon.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://beacon.example.org",
    "BEHIND_PROXY": "true",
}


def test_check_deploy_is_clean_with_the_documented_production_settings():
    import os

    env = {**os.environ, **PRODUCTION_ENV, "DJANGO_SETTINGS_MODULE": "config.settings"}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the browser tests' setting, not production's
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.I)


def _policy_problems(response) -> list[str]:
    problems = []
    policy = response.get("Content-Security-Policy", "")
    if not policy:
        return ["no Content-Security-Policy header"]
    if "unsafe-inline" in policy or "unsafe-eval" in policy:
        problems.append(f"policy allows inline code: {policy}")
    for needed in ("script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"):
        if needed not in policy:
            problems.append(f"policy lacks {needed}")
    if "html" in response.get("Content-Type", ""):
        body = response.content.decode("utf-8", "replace")
        for name, pattern in (
            ("inline script", INLINE_SCRIPT),
            ("event handler attribute", HANDLER),
            ("style attribute", STYLE_ATTRIBUTE),
        ):
            found = pattern.search(body)
            if found:
                problems.append(f"{name}: {found.group(0)[:120]}")
    return problems


@pytest.fixture
def pages(demo_world):
    clerk = User.objects.get(username="clerk")
    case = intake.case_open(
        origin=Origin(actor=clerk), data=intake.CaseInput(values=service_values())
    )
    return case


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["coordinator", "field", "counsellor", "admin", None])
def test_every_page_carries_a_strict_policy_and_no_inline_code(client, pages, username):
    if username:
        client.force_login(User.objects.get(username=username))
    values = {"pk": pages.pk, "id": pages.pk}
    paths = [route.fill(values) for route in all_routes() if set(route.parameters) <= set(values)]
    paths += ["/admin/", "/admin/search/case/", f"/admin/search/case/{pages.pk}/change/",
              "/admin/accounts/unit/add/", "/api/docs/", "/api/docs/?script="]  # fmt: skip
    problems = {}
    for path in paths:
        response = client.get(path)
        found = _policy_problems(response)
        if found:
            problems[path] = found
    assert problems == {}


@pytest.mark.django_db
def test_an_oversized_api_body_gets_a_json_413(client, clerk):
    client.force_login(clerk)
    body = '{"subject_name": "' + "x" * (5 * 1024 * 1024) + '"}'

    response = client.post("/api/v1/cases/", body, content_type="application/json")

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "larger than" in response.json()["detail"]
    assert Case.objects.count() == 0


@pytest.mark.django_db
def test_an_oversized_partner_message_gets_a_json_413_too(client):
    response = client.post(
        "/api/v1/federation/messages/", "x" * (3 * 1024 * 1024), content_type="application/json"
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_media_is_never_served_and_photos_go_through_the_access_check(client, clerk):
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, format="JPEG")
    case = intake.case_open(
        origin=Origin(actor=clerk),
        data=intake.CaseInput(
            values=service_values(), photo=SimpleUploadedFile("p.jpg", out.getvalue())
        ),
    )
    media_path = f"/media/{case.photo.name}"

    with pytest.raises(Resolver404):
        resolve(media_path)
    client.force_login(clerk)
    assert client.get(media_path).status_code == 404
    photo = client.get(f"/cases/{case.pk}/photo/")
    assert photo.status_code == 200
    assert photo["Cache-Control"] == "private, no-store"
    client.logout()
    assert client.get(f"/cases/{case.pk}/photo/").status_code == 302
