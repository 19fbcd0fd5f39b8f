import logging

from rest_framework.throttling import SimpleRateThrottle

from config.client_ip import client_ip

log = logging.getLogger(__name__)


class FailOpenThrottle(SimpleRateThrottle):
    """A rate limit kept in the cache (Redis) that lets requests through while the cache is down:
    a throttle keeps one script from starving the staff, and is no reason to refuse a case."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:  # noqa: BLE001 - any cache failure: fail open, and say so
            log.warning("throttle cache unavailable; %s let through", request.path)
            return True

    def get_ident(self, request):
        return client_ip(request) or "unknown"


class ClientRateThrottle(FailOpenThrottle):
    """One budget per client: a signed-in user, a partner's key, or else the address."""

    scope = "client"

    def get_cache_key(self, request, view):
        key = getattr(request, "auth", None)
        partner_id = getattr(key, "partner_id", None)
        if partner_id is not None:
            ident = f"partner:{partner_id}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"addr:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AddressRateThrottle(FailOpenThrottle):
    """One budget per address for the view's throttle_scope (signing in: a password guesser)."""

    def __init__(self):
        pass  # the scope comes from the view, in allow_request

    def allow_request(self, request, view):
        self.scope = view.throttle_scope
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
