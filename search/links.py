"""Absolute addresses for what leaves Beacon (CAP, Atom, QR codes, PFIF photo links)."""

from django.conf import settings


def public_base_url(request) -> str:
    """Return where the public reaches Beacon: PUBLIC_BASE_URL, else the request's own host."""
    return settings.PUBLIC_BASE_URL or request.build_absolute_uri("/").rstrip("/")
