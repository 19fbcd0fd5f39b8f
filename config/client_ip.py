"""The address a request came from, the same for lockouts, rate limits and the timeline."""

from django.conf import settings


def client_ip(request) -> str | None:
    """Return the client's address: REMOTE_ADDR, or behind our own TLS proxy the address that
    proxy saw (the last X-Forwarded-For entry, the one a client cannot forge)."""
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.META.get("REMOTE_ADDR")
